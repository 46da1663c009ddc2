"""flywheel.train's public errors (its names are pinned in tests/test_public_api.py)."""

from __future__ import annotations

import flywheel.train


def test_train_errors_are_in_the_one_tree() -> None:
    assert issubclass(flywheel.train.CheckpointError, ValueError)
    assert issubclass(flywheel.train.NoTrainingDataError, flywheel.train.TrainError)
