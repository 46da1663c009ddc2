"""Train: networks, checkpoints and data-parallel training on Ray Train.

Public surface (pinned by tests/train/test_public_api.py):

- ``train(settings, TrainConfig(...))`` -> ``TrainSummary``: one model version.
- ``Checkpoint``, ``load_checkpoint(uri, settings)``, ``save_checkpoint``: the format.
- ``Classifier``: the network contract (``embed``, ``head``, ``forward_with_embedding``,
  ``mc_dropout``, ``freeze_backbone``).
"""

from flywheel.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from flywheel.train.errors import CheckpointError, NoTrainingDataError, TrainError
from flywheel.train.network import Classifier
from flywheel.train.run import TrainConfig, TrainSummary, train

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Classifier",
    "NoTrainingDataError",
    "TrainConfig",
    "TrainError",
    "TrainSummary",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
