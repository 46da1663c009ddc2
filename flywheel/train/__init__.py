"""Train: checkpoints and data-parallel training on Ray Train.

Public surface (pinned by tests/train/test_public_api.py):

- ``train(settings, TrainConfig(...))`` -> ``TrainSummary``: one model version.
- ``Checkpoint``, ``load_checkpoint(uri, settings)``, ``save_checkpoint``: the format;
  ``CheckpointError`` (from ``flywheel.networks``) when a file does not fit.

The networks themselves (``Classifier`` and the architectures) live in
``flywheel.networks``, below both train and the modalities that build them.
"""

from flywheel.networks.errors import CheckpointError
from flywheel.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from flywheel.train.errors import NoTrainingDataError, TrainError
from flywheel.train.run import TrainConfig, TrainSummary, train

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "NoTrainingDataError",
    "TrainConfig",
    "TrainError",
    "TrainSummary",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
