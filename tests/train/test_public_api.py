"""The public surface of flywheel.train, pinned."""

from __future__ import annotations

import flywheel.train


def test_public_names() -> None:
    assert sorted(flywheel.train.__all__) == [
        "Checkpoint",
        "CheckpointError",
        "Models",
        "NoTrainingDataError",
        "TrainConfig",
        "TrainError",
        "TrainSummary",
        "load_checkpoint",
        "save_checkpoint",
        "train",
    ]
    assert issubclass(flywheel.train.CheckpointError, ValueError)
    assert issubclass(flywheel.train.NoTrainingDataError, flywheel.train.TrainError)
