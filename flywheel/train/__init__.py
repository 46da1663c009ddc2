"""Train: checkpoints, data-parallel training on Ray Train, and the model registry.

Public surface (pinned by tests/train/test_public_api.py); names load lazily, so reading
the registry (the vendor API's feedback, ``flywheel models``) does not import torch or Ray:

- ``train(settings, TrainConfig(...))`` -> ``TrainSummary``: one model version.
- ``Models``: the one model registry (``Models.read(lake)``: versions, the promoted model,
  candidates, the audit trail).
- ``Checkpoint``, ``load_checkpoint(uri, settings)``, ``save_checkpoint``: the format;
  ``CheckpointError`` (from ``flywheel.networks``) when a file does not fit.

The networks themselves (``Classifier`` and the architectures) live in
``flywheel.networks``, below both train and the modalities that build them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flywheel.networks import CheckpointError
    from flywheel.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from flywheel.train.data import in_holdout
    from flywheel.train.errors import NoTrainingDataError, TrainError
    from flywheel.train.loop import WorkerConfig, evaluate, table_batches, table_slices, train_epoch
    from flywheel.train.metrics import format_confusion
    from flywheel.train.registry import PROMOTED_ALIAS, Models
    from flywheel.train.run import TrainConfig, TrainSummary, train

_WHERE = {
    "PROMOTED_ALIAS": "flywheel.train.registry",
    "WorkerConfig": "flywheel.train.loop",
    "evaluate": "flywheel.train.loop",
    "format_confusion": "flywheel.train.metrics",
    "in_holdout": "flywheel.train.data",
    "table_batches": "flywheel.train.loop",
    "table_slices": "flywheel.train.loop",
    "train_epoch": "flywheel.train.loop",
    "CheckpointError": "flywheel.networks.errors",
    "Checkpoint": "flywheel.train.checkpoint",
    "load_checkpoint": "flywheel.train.checkpoint",
    "save_checkpoint": "flywheel.train.checkpoint",
    "NoTrainingDataError": "flywheel.train.errors",
    "TrainError": "flywheel.train.errors",
    "Models": "flywheel.train.registry",
    "TrainConfig": "flywheel.train.run",
    "TrainSummary": "flywheel.train.run",
    "train": "flywheel.train.run",
}
__all__ = [
    "PROMOTED_ALIAS",
    "Checkpoint",
    "CheckpointError",
    "Models",
    "NoTrainingDataError",
    "TrainConfig",
    "TrainError",
    "TrainSummary",
    "WorkerConfig",
    "evaluate",
    "format_confusion",
    "in_holdout",
    "load_checkpoint",
    "save_checkpoint",
    "table_batches",
    "table_slices",
    "train",
    "train_epoch",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
