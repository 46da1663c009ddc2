"""flywheel.networks' public errors (its names are pinned in tests/test_public_api.py)."""

from __future__ import annotations

import flywheel.networks
import flywheel.train
from flywheel.errors import FlywheelError


def test_checkpoint_error_is_in_the_one_tree() -> None:
    err = flywheel.networks.CheckpointError
    assert issubclass(err, flywheel.networks.NetworkError)
    assert issubclass(err, FlywheelError) and issubclass(err, ValueError)
    assert err.exit_code == 2
    assert flywheel.train.CheckpointError is err  # train re-exports what its loader raises
