"""Networks' branch of the exception tree (see ``flywheel.errors``).

Each message names the bad value and says how to fix it.
"""

from __future__ import annotations

from flywheel.errors import FlywheelError

__all__ = ["CheckpointError", "NetworkError"]


class NetworkError(FlywheelError, ValueError):
    """A network cannot be built or loaded with what it was given."""

    exit_code = 2


class CheckpointError(NetworkError):
    """A checkpoint is unreadable, not a flywheel checkpoint, or does not fit the model
    it is loaded into (another architecture, shape or class list)."""
