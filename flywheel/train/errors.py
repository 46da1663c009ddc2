"""Train's branch of the exception tree (see ``flywheel.errors``).

Each message names the bad value and says how to fix it. An unknown model version is
the shared ``flywheel.errors.NotFoundError``; a checkpoint that does not fit its network
is ``flywheel.networks.CheckpointError`` (re-exported by ``flywheel.train``).
"""

from __future__ import annotations

from flywheel.errors import FlywheelError

__all__ = ["NoTrainingDataError", "TrainError"]


class TrainError(FlywheelError, ValueError):
    """A training run cannot start (or finish) with the data and flags it was given."""

    exit_code = 2


class NoTrainingDataError(TrainError):
    """There is nothing to learn a class (or anything) from, or nothing to evaluate on."""
