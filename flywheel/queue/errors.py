"""The queue's branch of the exception tree.

Each class says what went wrong from the caller's side; ``flywheel.queue.api`` maps
them (and ``NotFoundError``) to HTTP status codes in one table, the CLI to one line.
"""

from __future__ import annotations

from flywheel.errors import FlywheelError


class QueueError(FlywheelError):
    """Base of the errors raised by the annotation queue."""


class AuthError(QueueError, PermissionError):
    """The bearer token is missing, unknown or revoked (HTTP 401)."""


class InvalidAnswerError(QueueError, ValueError):
    """An answer names a label the task does not offer, or a task its lease does not
    hold (HTTP 422)."""

    exit_code = 2


class ConflictError(QueueError):
    """The request contradicts stored state: a task that needs no more answers, an
    idempotency key reused for another answer, an annotator answering twice (HTTP 409)."""


class LeaseExpiredError(ConflictError):
    """The lease has expired or was released, so it cannot be extended (HTTP 409)."""
