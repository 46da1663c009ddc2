"""Exactly-once export of answers and decided labels into the lake.

Each lake table's snapshot summary carries the highest queue-database id it holds
(``flywheel.export.max_annotation_id`` / ``flywheel.export.max_label_id``), written in
the same Iceberg commit as the rows. An export reads that watermark from the table it is
about to append to and commits on top of exactly that snapshot (``commit_fresh``: a
concurrent commit makes it read the watermark again and decide again, never double), so
a crash at any point leaves either the old watermark and no rows, or the new watermark
and all of them: a re-run picks up where it stopped.

The ids must be a safe watermark: on PostgreSQL a transaction can commit id 11 before
another commits id 10. The read therefore takes ``LOCK TABLE ... IN SHARE MODE``, which
waits for every transaction still inserting (each holds the sequence value it drew) and
leaves every later insert a higher id. On SQLite writes are serial anyway.

``labels`` is a state table, one consolidated label per sample: a batch replaces the rows
of the samples it decides (the latest decision wins) in the same commit that appends them.

Labels never run ahead of their answers: an export first notes the highest label id
committed (under the same lock), exports answers, then labels only up to that id. A label
is written in the transaction that records its deciding answer, so every exported label
has its answers in the lake too, whatever an annotator submits while the export runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, Select, func, select

from flywheel.db import queue_tables as t
from flywheel.db import transaction
from flywheel.lake import TABLE_SCHEMAS, Change, CommitHook, Head, Lake, among, commit_fresh

ANNOTATION_MARK = "flywheel.export.max_annotation_id"
LABEL_MARK = "flywheel.export.max_label_id"
BATCH_ROWS = 50_000  # rows per Iceberg commit; each commit carries its own watermark


@dataclass(frozen=True)
class ExportResult:
    annotations: int
    labels: int
    annotation_mark: int
    label_mark: int

    def line(self) -> str:
        """The one-line summary people read.

        >>> ExportResult(3, 1, 12, 5).line()
        'exported 3 annotations and 1 labels (watermarks: annotation 12, label 5)'
        """
        return (
            f"exported {self.annotations} annotations and {self.labels} labels "
            f"(watermarks: annotation {self.annotation_mark}, label {self.label_mark})"
        )


def export_labels(
    lake: Lake,
    engine: Engine,
    batch_rows: int = BATCH_ROWS,
    between: Callable[[], None] | None = None,
    before_commit: CommitHook | None = None,
) -> ExportResult:
    """Append answers and labels not yet in the lake to ``annotations`` and ``labels``;
    ``between`` runs after answers were exported and before labels are, and
    ``before_commit`` before each catalog commit (test hooks)."""
    bound = committed_label_bound(engine)
    n_ann, ann_mark = export_table(lake, engine, "annotations", batch_rows, None, before_commit)
    if n_ann and between is not None:
        between()
    n_lab, lab_mark = export_table(lake, engine, "labels", batch_rows, bound, before_commit)
    return ExportResult(n_ann, n_lab, ann_mark, lab_mark)


def committed_label_bound(engine: Engine) -> int:
    """The highest label id committed now (0: none); every lower id is committed too."""
    with transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE aq_labels IN SHARE MODE")
        return int(conn.execute(select(func.coalesce(func.max(t.labels.c.id), 0))).scalar_one())


def export_table(
    lake: Lake,
    engine: Engine,
    name: str,
    batch_rows: int,
    upto: int | None = None,
    before_commit: CommitHook | None = None,
) -> tuple[int, int]:
    """Export one table in batches, rows with ids up to ``upto`` when given; returns
    (rows exported, watermark now). Each batch is decided from a fresh read of the
    watermark and committed on exactly that snapshot (``commit_fresh``)."""
    mark_key, query, to_arrow, locked = _EXPORTS[name]
    total = 0
    while True:
        batch = _Batch()

        def build(head: Head, batch: _Batch = batch) -> Change | None:
            batch.mark = watermark(head, mark_key)
            with transaction(engine) as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"LOCK TABLE {locked} IN SHARE MODE")
                rows = list(conn.execute(query(batch.mark, upto).limit(batch_rows)).all())
            batch.rows = len(rows)
            if not rows:
                return None
            data = to_arrow(rows).cast(TABLE_SCHEMAS[name])
            batch.mark = int(data.column(0)[-1].as_py())  # ids ascend: the last is the max
            props = {mark_key: str(batch.mark)}
            if name != "labels":
                return Change(append=data, properties=props)
            # A state table: a sample's label decided again replaces its row, in one commit.
            data = _last_per_sample(data)
            decided = among("sample_id", data["sample_id"].to_pylist())
            again = head.read(["sample_id"], decided).num_rows  # relabelled samples
            return Change(delete=decided if again else None, append=data, properties=props)

        commit_fresh(lake, name, build, before_commit)
        total += batch.rows
        if batch.rows < batch_rows:
            return total, batch.mark


@dataclass
class _Batch:
    """What the last attempt of one batch decided: rows and the watermark after them."""

    rows: int = 0
    mark: int = 0


def _last_per_sample(data: pa.Table) -> pa.Table:
    """The last row of each sample (rows in id order: the latest decision wins)."""
    last = {sid: i for i, sid in enumerate(data.column("sample_id").to_pylist())}
    return data.take(sorted(last.values()))


def watermark(head: Head, key: str) -> int:
    """The watermark in the newest snapshot that has one (0 when none does): walking
    back past snapshots some other writer made without it."""
    for props in head.summaries():
        if key in props:
            return int(props[key])
    return 0


def _ts(seconds: list[float]) -> pa.Array:
    return pa.array(
        [datetime.fromtimestamp(s, tz=UTC) for s in seconds], type=pa.timestamp("us", tz="UTC")
    )


def _after(column: Any, mark: int, upto: int | None) -> list[Any]:
    """Where-conditions: ids above the watermark, and up to ``upto`` when given."""
    return [column > mark] if upto is None else [column > mark, column <= upto]


def _annotations_query(mark: int, upto: int | None) -> Select[Any]:
    a = t.annots.c
    return (
        select(
            a.id,
            a.task_id,
            t.queues.c.name.label("queue"),
            t.tasks.c.sample_id,
            t.tasks.c.kind,
            t.tasks.c.is_gold,
            t.vendors.c.name.label("vendor"),
            a.annotator,
            a.label,
            a.skip,
            a.counted,
            a.lease_id,
            a.idempotency_key,
            a.created_at,
        )
        .select_from(
            t.annots.join(t.tasks, t.tasks.c.id == a.task_id)
            .join(t.queues, t.queues.c.id == t.tasks.c.queue_id)
            .join(t.vendors, t.vendors.c.id == a.vendor_id)
        )
        .where(*_after(a.id, mark, upto))
        .order_by(a.id)
    )


def _annotations_arrow(rows: list[Any]) -> pa.Table:
    def col(name: str) -> list[Any]:
        return [getattr(r, name) for r in rows]

    return pa.table(
        {
            "annotation_id": col("id"),
            "task_id": col("task_id"),
            "queue": col("queue"),
            "sample_id": col("sample_id"),
            "kind": col("kind"),
            "is_gold": col("is_gold"),
            "vendor": col("vendor"),
            "annotator": col("annotator"),
            "label": col("label"),
            "skip": col("skip"),
            "counted": col("counted"),
            "lease_id": col("lease_id"),
            "idempotency_key": col("idempotency_key"),
            "answered_at": _ts(col("created_at")),
        }
    )


def _labels_query(mark: int, upto: int | None) -> Select[Any]:
    lab = t.labels.c
    return (
        select(
            lab.id,
            lab.sample_id,
            lab.label,
            lab.kind,
            lab.method,
            t.queues.c.name.label("queue"),
            lab.task_id,
            lab.votes,
            lab.agreement,
            lab.confidence,
            lab.n_answers,
            lab.decided_at,
        )
        .select_from(t.labels.join(t.queues, t.queues.c.id == lab.queue_id))
        .where(*_after(lab.id, mark, upto))
        .order_by(lab.id)
    )


def _labels_arrow(rows: list[Any]) -> pa.Table:
    def col(name: str) -> list[Any]:
        return [getattr(r, name) for r in rows]

    return pa.table(
        {
            "label_id": col("id"),
            "sample_id": col("sample_id"),
            "label": col("label"),
            "kind": col("kind"),
            "method": col("method"),
            "queue": col("queue"),
            "task_id": pa.array(col("task_id"), type=pa.int64()),
            "votes": pa.array(
                [list(v.items()) for v in col("votes")], type=pa.map_(pa.string(), pa.int32())
            ),
            "agreement": col("agreement"),
            "confidence": col("confidence"),
            "n_answers": col("n_answers"),
            "decided_at": _ts(col("decided_at")),
        }
    )


_Query = Callable[[int, int | None], Select[Any]]
_Exporter = tuple[str, _Query, Callable[[list[Any]], pa.Table], str]
_EXPORTS: dict[str, _Exporter] = {
    "annotations": (ANNOTATION_MARK, _annotations_query, _annotations_arrow, "aq_annotations"),
    "labels": (LABEL_MARK, _labels_query, _labels_arrow, "aq_labels"),
}
