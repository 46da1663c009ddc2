"""Checks any lake must pass, for tests to call at the end of the runs that build one.

The contract of ``flywheel.lake.schema.TABLE_KINDS``: a state table holds one row per
key (the current state), so ``count(*) = count(distinct key)`` on every lake, asked
through ``flywheel.sql`` as a SQL user would ask it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flywheel.config import Settings
from flywheel.lake import sql
from flywheel.lake.schema import TABLE_KINDS

STATE_TABLES = tuple(sorted(n for n, k in TABLE_KINDS.items() if k.kind == "state"))


def assert_one_row_per_key(
    settings: Settings, snapshot_ids: Mapping[str, int | None] | None = None
) -> dict[str, int]:
    """Assert every state table has one row per key; returns {table: rows}."""
    rows: dict[str, int] = {}
    for name in STATE_TABLES:
        key = ", ".join(TABLE_KINDS[name].key)
        query = f"select count(*) as n, count(distinct ({key})) as keys from {name}"
        got: dict[str, Any] = sql(query, settings, snapshot_ids).to_pylist()[0]
        assert got["n"] == got["keys"], f"{name}: {got['n']} rows for {got['keys']} keys"
        rows[name] = got["n"]
    return rows
