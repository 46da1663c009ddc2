"""Submit: run a flywheel verb as a Ray job through the Ray Jobs API, and manage jobs.

``flywheel submit <verb> [args]`` sends ``python -m jobs.<verb> args`` with the source
checkout as working dir and the data-root settings as environment; ``flywheel jobs``
lists, follows and stops jobs. Ray's token auth stays on: the token is found as Ray
finds it (see ``flywheel.submit.target``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flywheel.submit.errors import (
    JobFailedError,
    JobsApiError,
    JobsAuthError,
    JobsUnreachableError,
)
from flywheel.submit.package import entrypoint, find_checkout, runtime_env
from flywheel.submit.target import JobsTarget, find_token

if TYPE_CHECKING:
    from flywheel.submit.client import JobsClient

__all__ = [
    "JobFailedError",
    "JobsApiError",
    "JobsAuthError",
    "JobsClient",
    "JobsTarget",
    "JobsUnreachableError",
    "entrypoint",
    "find_checkout",
    "find_token",
    "runtime_env",
]


def __getattr__(name: str) -> Any:
    # Lazy: Ray's job SDK (aiohttp, the dashboard client) costs a second at every
    # `flywheel` start, and only submit and jobs need it.
    if name == "JobsClient":
        from flywheel.submit.client import JobsClient

        return JobsClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
