"""The loop's branch of the exception tree (see ``flywheel.errors``)."""

from __future__ import annotations

from flywheel.errors import FlywheelError


class LoopError(FlywheelError):
    """Base of the errors raised by the loop, the gates and feedback."""


class LoopBusyError(LoopError, RuntimeError):
    """Another controller holds the loop: two would train and select twice."""

    exit_code = 4


class LoopTakenOverError(LoopError, RuntimeError):
    """Another controller took the loop over (this one's heartbeat went stale): this one
    stops at its next step instead of writing over the new holder's state."""

    exit_code = 4


class MediaRejectedError(LoopError, ValueError):
    """A reported media file failed ingest's checks (it is in the quarantine table)."""

    exit_code = 2
