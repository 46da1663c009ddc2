"""Each annotator's estimated accuracy in a queue, from the database: the stored
Dawid-Skene estimate as a prior, sharpened by their answers to gold tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, func, select

from flywheel.db import queue_tables as t
from flywheel.queue.quality import PRIOR_ACCURACY, estimate_accuracy

AnnotatorKey = tuple[int, str]  # (vendor_id, annotator)


def annotator_accuracy(
    conn: Connection, queue_id: int, keys: Sequence[AnnotatorKey]
) -> dict[AnnotatorKey, float]:
    """Estimated accuracy of each annotator in ``queue_id``: the Dawid-Skene estimate
    (or ``PRIOR_ACCURACY``) as a prior, updated by their answers to gold tasks."""
    wanted = set(keys)
    names = sorted({k[1] for k in wanted})
    q = t.annotator_quality.c
    prior = {
        (r.vendor_id, r.annotator): r.accuracy
        for r in conn.execute(
            select(q.vendor_id, q.annotator, q.accuracy).where(
                q.queue_id == queue_id, q.annotator.in_(names)
            )
        )
    }
    gold = {
        (r.vendor_id, r.annotator): (r.correct, r.n) for r in gold_results(conn, queue_id, names)
    }
    out = {}
    for key in wanted:
        correct, n = gold.get(key, (0, 0))
        out[key] = estimate_accuracy(correct, n, prior.get(key, PRIOR_ACCURACY))
    return out


def gold_results(conn: Connection, queue_id: int, annotators: Sequence[str] | None = None) -> Any:
    """Rows (vendor_id, annotator, n, correct) of counted answers to gold tasks."""
    a = t.annots.c
    correct = func.sum(case((a.label == t.gold.c.label, 1), else_=0))
    query = (
        select(a.vendor_id, a.annotator, func.count().label("n"), correct.label("correct"))
        .select_from(
            t.annots.join(t.tasks, t.tasks.c.id == a.task_id).join(
                t.gold,
                (t.gold.c.queue_id == t.tasks.c.queue_id)
                & (t.gold.c.sample_id == t.tasks.c.sample_id),
            )
        )
        .where(t.tasks.c.queue_id == queue_id, t.tasks.c.is_gold.is_(True), a.counted.is_(True))
        .group_by(a.vendor_id, a.annotator)
    )
    if annotators is not None:
        query = query.where(a.annotator.in_(list(annotators)))
    return conn.execute(query).all()
