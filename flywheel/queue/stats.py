"""How a queue is doing: task states, agreement, accuracy on gold, Dawid-Skene.

``refresh_quality`` runs Dawid-Skene over a queue's answers (gold tasks pinned to their
known label) and stores each annotator's estimated accuracy; later decisions use it as
the prior that gold answers sharpen (see ``answers.annotator_accuracy``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import ColumnElement, Connection, Engine, case, func, select

from flywheel.db import queue_tables as t
from flywheel.db import run_transaction
from flywheel.queue.accuracy import gold_results
from flywheel.queue.quality import DawidSkene, dawid_skene
from flywheel.queue.store import Queue, get_queue, list_queues, now


@dataclass(frozen=True)
class AnnotatorStats:
    vendor: str
    annotator: str  # "*" for a vendor's total
    gold_answers: int
    gold_correct: int
    estimated_accuracy: float | None = None  # Dawid-Skene, when refreshed

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answers if self.gold_answers else None


@dataclass(frozen=True)
class QueueStats:
    queue: str
    open: int
    leased: int
    expired: int
    done: int
    labels: int
    agreement: float | None  # mean agreement of the decided labels
    vendors: list[AnnotatorStats] = field(default_factory=list)
    annotators: list[AnnotatorStats] = field(default_factory=list)


def queue_stats(engine: Engine, name: str | None = None, refresh: bool = True) -> list[QueueStats]:
    """Stats of one queue or of all. ``refresh`` re-runs Dawid-Skene first."""

    def names(conn: Connection) -> list[str]:
        return [name] if name is not None else [q.name for q in list_queues(conn)]

    queue_names = run_transaction(engine, names)
    if refresh:
        for queue_name in queue_names:
            refresh_quality(engine, queue_name)
    return run_transaction(
        engine, lambda conn: [_stats(conn, get_queue(conn, n)) for n in queue_names]
    )


def _stats(conn: Connection, q: Queue) -> QueueStats:
    at = now()
    c = t.tasks.c
    is_open = c.status == "open"

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = conn.execute(
        select(
            count(is_open & c.lease_id.is_(None)).label("open"),
            count(is_open & (c.lease_expires_at > at)).label("leased"),
            count(is_open & (c.lease_expires_at <= at)).label("expired"),
            count(c.status == "done").label("done"),
        ).where(c.queue_id == q.id)
    ).one()
    lab = conn.execute(
        select(func.count(), func.avg(t.labels.c.agreement)).where(
            t.labels.c.queue_id == q.id, t.labels.c.kind != "gold"
        )
    ).one()
    vendor_names = {r.id: r.name for r in conn.execute(select(t.vendors.c.id, t.vendors.c.name))}
    estimates = {
        (r.vendor_id, r.annotator): r.accuracy
        for r in conn.execute(
            select(t.annotator_quality).where(t.annotator_quality.c.queue_id == q.id)
        )
    }
    annotators = []
    per_vendor: dict[int, list[int]] = {}
    gold = {(r.vendor_id, r.annotator): (r.n, r.correct) for r in gold_results(conn, q.id)}
    for key in sorted(set(gold) | set(estimates)):
        n, correct = gold.get(key, (0, 0))
        annotators.append(
            AnnotatorStats(vendor_names[key[0]], key[1], int(n), int(correct), estimates.get(key))
        )
        totals = per_vendor.setdefault(key[0], [0, 0])
        totals[0] += int(n)
        totals[1] += int(correct)
    vendors = [
        AnnotatorStats(vendor_names[v], "*", n, correct)
        for v, (n, correct) in sorted(per_vendor.items())
    ]
    return QueueStats(
        queue=q.name,
        open=int(row.open),
        leased=int(row.leased),
        expired=int(row.expired),
        done=int(row.done),
        labels=int(lab[0]),
        agreement=None if lab[1] is None else float(lab[1]),
        vendors=vendors,
        annotators=annotators,
    )


def refresh_quality(engine: Engine, queue: str) -> DawidSkene | None:
    """Run Dawid-Skene over ``queue``'s counted label answers and store each
    annotator's estimated accuracy. Returns None when there are no answers yet."""

    def work(conn: Connection) -> DawidSkene | None:
        q = get_queue(conn, queue)
        a = t.annots.c
        rows = conn.execute(
            select(
                a.task_id,
                a.vendor_id,
                a.annotator,
                a.label,
                t.tasks.c.is_gold,
                t.gold.c.label.label("gold_label"),
            )
            .select_from(
                t.annots.join(t.tasks, t.tasks.c.id == a.task_id).outerjoin(
                    t.gold,
                    (t.gold.c.queue_id == t.tasks.c.queue_id)
                    & (t.gold.c.sample_id == t.tasks.c.sample_id)
                    & t.tasks.c.is_gold.is_(True),
                )
            )
            .where(t.tasks.c.queue_id == q.id, t.tasks.c.kind == "label", a.counted.is_(True))
        ).all()
        conn.execute(t.annotator_quality.delete().where(t.annotator_quality.c.queue_id == q.id))
        if not rows:
            return None
        class_of = {label: i for i, label in enumerate(q.labels)}
        task_index: dict[int, int] = {}
        annot_index: dict[tuple[int, str], int] = {}
        items = np.array([task_index.setdefault(r.task_id, len(task_index)) for r in rows])
        annots = np.array(
            [annot_index.setdefault((r.vendor_id, r.annotator), len(annot_index)) for r in rows]
        )
        labels = np.array([class_of[r.label] for r in rows])
        known = {task_index[r.task_id]: class_of[r.gold_label] for r in rows if r.gold_label}
        result = dawid_skene(items, annots, labels, len(q.labels), known=known)
        at = now()
        conn.execute(
            t.annotator_quality.insert(),
            [
                {
                    "queue_id": q.id,
                    "vendor_id": key[0],
                    "annotator": key[1],
                    "accuracy": float(result.accuracy[i]),
                    "n_answers": int(result.n_answers[i]),
                    "updated_at": at,
                }
                for key, i in annot_index.items()
            ],
        )
        return result

    return run_transaction(engine, work)
