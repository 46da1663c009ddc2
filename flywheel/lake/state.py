"""State tables and their event tables (docs/decisions/state-and-event-tables.md).

``models`` holds one row per version, its current status; ``model_events`` holds one row
per status a version took, the audit trail. A writer changes ``models`` in one commit
(an overwrite of the version's row), and ``sync_model_events`` records every
(version, status) of ``models`` that ``model_events`` lacks: idempotent by that key, run
before and after each change, so a crash between the two commits is made good by the
next writer and no status is ever skipped.

``migrate`` opens a lake written before state tables: ``models`` kept a row per status
change and ``labels`` a row per decision. Their old rows become the current rows (the
latest per key) and, for models, events too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.lake.commit import Change, CommitHook, Head, commit_fresh
from flywheel.lake.schema import MODEL_EVENTS, TABLE_KINDS

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression

    from flywheel.lake.lake import Lake

LABEL_MARK = "flywheel.export.max_label_id"  # the export's watermark (flywheel.queue.export)


def model_event_rows(models: pa.Table) -> pa.Table:
    """One ``model_events`` row per ``models`` row: its status, reason and time."""
    gates = []
    for text in models.column("metrics").to_pylist():
        gate = json.loads(text).get("gate") if text else None
        gates.append(None if gate is None else json.dumps(gate, sort_keys=True, default=float))
    return pa.table(
        {
            "version": models.column("version"),
            "status": models.column("status"),
            "reason": models.column("reason"),
            "gate": pa.array(gates, pa.string()),
            "run_id": models.column("run_id"),
            "recorded_at": models.column("created_at"),
        }
    ).cast(MODEL_EVENTS)


def sync_model_events(lake: Lake, before_commit: CommitHook | None = None) -> int | None:
    """Record in ``model_events`` each (version, status) of ``models`` it lacks."""
    current = model_event_rows(lake.read("models"))

    def build(head: Head) -> Change | None:
        known = _keys(head.read(["version", "status"]), ("version", "status"))
        fresh = current.filter(pc.invert(pc.is_in(_keys(current, ("version", "status")), known)))
        return Change(append=fresh, properties={"flywheel.model_events": "sync"})

    return commit_fresh(lake, "model_events", build, before_commit)


def migrate(lake: Lake, name: str) -> None:
    """Bring ``name`` (``models`` or ``labels``) to one row per key, if a lake written
    before state tables left more (one commit; the export's watermark is kept)."""
    if name == "models":
        sync_model_events(lake)  # every old row is an event first
    key = TABLE_KINDS[name].key
    order = "created_at" if name == "models" else "label_id"

    def build(head: Head) -> Change | None:
        keys = _keys(head.read(list(key)), key)
        if len(keys) == len(pc.unique(keys)):
            return None
        latest = _latest(head.read(), key, order)
        props = {"flywheel.migrate": "state-table"}
        if name == "labels":
            mark = next((p[LABEL_MARK] for p in head.summaries() if LABEL_MARK in p), None)
            props.update({LABEL_MARK: mark} if mark is not None else {})
        return Change(delete=_everything(), append=latest, properties=props)

    commit_fresh(lake, name, build)


def _latest(rows: pa.Table, key: tuple[str, ...], order: str) -> pa.Table:
    """The last row of each key by ``order``."""
    rows = rows.sort_by([(order, "ascending")])
    keys = _keys(rows, key).to_pylist()
    last = {k: i for i, k in enumerate(keys)}
    return rows.take(sorted(last.values()))


def _keys(rows: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """One string per row: its key columns joined."""
    if rows.num_rows == 0:
        return pa.array([], pa.string())
    cols = [pc.cast(rows.column(k), pa.string()) for k in key]
    joined = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _everything() -> BooleanExpression:
    from pyiceberg.expressions import AlwaysTrue

    return AlwaysTrue()
