"""The lake: Iceberg tables on local disk or S3, and DuckDB SQL over them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flywheel.lake.lake import Lake
from flywheel.lake.schema import PREDICTIONS, QUARANTINE, SAMPLES, SELECTIONS, TABLE_SCHEMAS

# Names loaded on first use so importing the package stays light (DuckDB, for one, loads
# only where SQL runs, not in every Ray worker that imports the lake).
_LAZY = {
    "sql": "flywheel.lake.query",
    "labels_at": "flywheel.lake.labels",
    "labels_view_sql": "flywheel.lake.labels",
    "CONSOLIDATED": "flywheel.lake.labels",
    "Change": "flywheel.lake.commit",
    "CommitHook": "flywheel.lake.commit",
    "Head": "flywheel.lake.commit",
    "among": "flywheel.lake.filters",
    "commit_fresh": "flywheel.lake.commit",
    "equal": "flywheel.lake.filters",
    "filesystem": "flywheel.lake.storage",
    "format_table": "flywheel.lake.cli",
    "media_batches": "flywheel.lake.media",
    "media_of": "flywheel.lake.storage",
    "put_bytes_if_absent": "flywheel.lake.storage",
    "read_bytes": "flywheel.lake.storage",
    "s3_client": "flywheel.lake.storage",
    "sync_model_events": "flywheel.lake.state",
    "without_rows": "flywheel.lake.staged",
}


if TYPE_CHECKING:
    from flywheel.lake.cli import format_table
    from flywheel.lake.commit import Change, CommitHook, Head, commit_fresh
    from flywheel.lake.filters import among, equal
    from flywheel.lake.labels import CONSOLIDATED, labels_at, labels_view_sql
    from flywheel.lake.media import media_batches
    from flywheel.lake.query import sql
    from flywheel.lake.staged import without_rows
    from flywheel.lake.state import sync_model_events
    from flywheel.lake.storage import (
        filesystem,
        media_of,
        put_bytes_if_absent,
        read_bytes,
        s3_client,
    )

__all__ = [
    "CONSOLIDATED",
    "PREDICTIONS",
    "QUARANTINE",
    "SAMPLES",
    "SELECTIONS",
    "TABLE_SCHEMAS",
    "Change",
    "CommitHook",
    "Head",
    "Lake",
    "among",
    "commit_fresh",
    "equal",
    "filesystem",
    "format_table",
    "labels_at",
    "labels_view_sql",
    "media_batches",
    "media_of",
    "put_bytes_if_absent",
    "read_bytes",
    "s3_client",
    "sql",
    "sync_model_events",
    "without_rows",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
