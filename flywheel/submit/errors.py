"""Submit's branch of the exception tree (see ``flywheel.errors``).

Each message is one line that names the address and says what to do; an unknown job
id is the shared ``flywheel.errors.NotFoundError``.
"""

from __future__ import annotations

from flywheel.errors import FlywheelError

__all__ = ["JobFailedError", "JobsApiError", "JobsAuthError", "JobsUnreachableError"]


class JobsApiError(FlywheelError, RuntimeError):
    """The Ray Jobs API answered, but not with what the request needed."""

    exit_code = 3


class JobsUnreachableError(JobsApiError, ConnectionError):
    """Nothing answers at the Jobs API address within the connect or read timeout."""


class JobsAuthError(JobsApiError, PermissionError):
    """The cluster wants a token and none was sent (HTTP 401), or it was wrong (403)."""


class JobFailedError(FlywheelError, RuntimeError):
    """A job ended without succeeding; its exit code is the driver's when it has one, so
    ``flywheel submit VERB`` exits as ``flywheel VERB`` would have."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
