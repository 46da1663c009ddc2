"""flywheel: an active-learning data flywheel on Ray.

The public surface is re-exported here and pinned by tests/test_public_api.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flywheel.config import Settings
from flywheel.errors import FlywheelError

if TYPE_CHECKING:
    from flywheel.lake import Lake, sql

__all__ = ["FlywheelError", "Lake", "Settings", "sql"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so Ray workers that import flywheel do not load DuckDB, and `flywheel --help`
    # does not load pyiceberg.
    if name == "Lake":
        from flywheel.lake import Lake

        return Lake
    if name == "sql":
        from flywheel.lake import sql

        return sql
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
