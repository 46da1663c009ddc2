"""The lake: Iceberg tables on local disk or S3, and DuckDB SQL over them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flywheel.lake.lake import Lake
from flywheel.lake.schema import TABLE_SCHEMAS

if TYPE_CHECKING:
    from flywheel.lake.labels import labels_at, labels_view_sql
    from flywheel.lake.query import sql

__all__ = ["TABLE_SCHEMAS", "Lake", "labels_at", "labels_view_sql", "sql"]


def __getattr__(name: str) -> Any:
    # DuckDB loads only where SQL runs, not in every Ray worker that imports the lake.
    if name == "sql":
        from flywheel.lake.query import sql

        return sql
    if name in ("labels_at", "labels_view_sql"):
        from flywheel.lake import labels

        return getattr(labels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
