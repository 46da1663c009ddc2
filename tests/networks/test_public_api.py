"""The public surface of flywheel.networks, pinned."""

from __future__ import annotations

import flywheel.networks
import flywheel.train
from flywheel.errors import FlywheelError


def test_public_names() -> None:
    assert sorted(flywheel.networks.__all__) == [
        "CheckpointError",
        "Classifier",
        "EfficientNetLite0",
        "NetworkError",
        "SmallConvNet",
        "load_imagenet_weights",
        "load_weights",
    ]


def test_checkpoint_error_is_in_the_one_tree() -> None:
    err = flywheel.networks.CheckpointError
    assert issubclass(err, flywheel.networks.NetworkError)
    assert issubclass(err, FlywheelError) and issubclass(err, ValueError)
    assert err.exit_code == 2
    assert flywheel.train.CheckpointError is err  # train re-exports what its loader raises
