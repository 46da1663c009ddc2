"""Putting work into a queue: ``enqueue`` for the other stages, ``add_gold`` for gold.

Gold tasks are mixed in here, at enqueue time, as ordinary task rows interleaved with
the new ones (same kind, same prefill shape, neighbouring ids and priorities), so a
vendor cannot tell them apart from their ids or their place in a lease.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, func, select

from flywheel.db import queue_tables as t
from flywheel.db import run_transaction
from flywheel.errors import ConfigError
from flywheel.queue.store import get_queue, now

KINDS = ("label", "verify")
_SAMPLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True)
class EnqueueResult:
    added: int
    skipped: int
    gold: int


def enqueue(
    engine: Engine,
    queue: str,
    items: Iterable[Mapping[str, Any]] | pa.Table,
    seed: int | None = None,
) -> EnqueueResult:
    """Add tasks to ``queue``, skipping samples already queued or labelled.

    Each item has ``sample_id``, optional ``kind`` (``label`` or ``verify``; verify asks
    "is this ``prefill.label``?"), optional ``prefill`` ``{"label", "confidence",
    "top_k": [[label, p], ...]}`` and optional ``priority`` (higher is leased first;
    default: the order given). An Arrow table with those columns works too.

    >>> from flywheel.queue.store import create_queue
    >>> from flywheel.db import open_engine
    >>> engine = open_engine("sqlite://")
    >>> _ = create_queue(engine, "q", ["cat", "dog"])
    >>> enqueue(engine, "q", [{"sample_id": "a1", "prefill": {"label": "cat"}}])
    EnqueueResult(added=1, skipped=0, gold=0)
    """
    rows = items.to_pylist() if isinstance(items, pa.Table) else [dict(i) for i in items]
    specs = [_check_item(i, row) for i, row in enumerate(rows)]
    rng = random.Random(seed)

    def work(conn: Connection) -> EnqueueResult:
        if conn.dialect.name == "postgresql":  # one enqueue at a time: check-then-insert
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242002)")
        q = get_queue(conn, queue)
        for spec in specs:
            _check_labels(spec, q.labels)
        fresh = _drop_known(conn, specs)
        n_label = sum(1 for spec in fresh if spec.kind == "label")
        gold_rows, carry = _gold_rows(conn, q, n_label, rng)
        base = _next_priority(conn, q.id)
        created = now()
        task_rows = [
            _task_row(q, spec, base - i if spec.priority is None else spec.priority, created)
            for i, spec in enumerate(fresh)
        ]
        templates = [r["prefill"] for r in task_rows if r["kind"] == "label" and r["prefill"]]
        for gold_row in gold_rows:  # interleave: take a random neighbour's priority
            at = rng.randrange(len(task_rows) + 1)
            neighbour = task_rows[min(at, len(task_rows) - 1)] if task_rows else None
            gold_row["priority"] = neighbour["priority"] if neighbour else base
            gold_row["created_at"] = created
            answer = gold_row.pop("answer")
            if gold_row["prefill"] is None and templates:
                template = rng.choice(templates)
                gold_row["prefill"] = _prefill_like(template, answer, q.labels, rng)
            task_rows.insert(at, gold_row)
        if task_rows:
            conn.execute(t.tasks.insert(), task_rows)
        conn.execute(t.queues.update().where(t.queues.c.id == q.id).values(gold_carry=carry))
        return EnqueueResult(len(fresh), len(specs) - len(fresh), len(gold_rows))

    return run_transaction(engine, work)


@dataclass(frozen=True)
class _Spec:
    sample_id: str
    kind: str
    prefill: dict[str, Any] | None
    priority: float | None


def _check_item(index: int, item: Mapping[str, Any]) -> _Spec:
    sample_id = item.get("sample_id")
    if not isinstance(sample_id, str) or not _SAMPLE_ID.match(sample_id):
        raise ConfigError(f"item {index}: sample_id {sample_id!r} is not a sample id")
    kind = item.get("kind") or "label"
    if kind not in KINDS:
        raise ConfigError(f"item {index}: kind {kind!r} is not one of {', '.join(KINDS)}")
    prefill = item.get("prefill")
    if prefill is not None:
        top_k = prefill.get("top_k") or []
        prefill = {
            "label": prefill.get("label"),
            "confidence": None
            if prefill.get("confidence") is None
            else float(prefill["confidence"]),
            "top_k": [[str(pair[0]), float(pair[1])] for pair in _pairs(top_k)],
        }
    if kind == "verify" and not (prefill and prefill["label"]):
        raise ConfigError(
            f"item {index}: a verify task needs prefill.label (the X in 'is this X?')"
        )
    priority = item.get("priority")
    return _Spec(sample_id, kind, prefill, None if priority is None else float(priority))


def _pairs(top_k: Any) -> list[tuple[Any, Any]]:
    """top_k as [[label, prob], ...] or [{"label", "prob"}, ...] (the selections shape;
    the older key "p" is still read)."""
    out = []
    for entry in top_k:
        if isinstance(entry, Mapping):
            out.append((entry["label"], entry.get("prob", entry.get("p", 0.0))))
        else:
            out.append((entry[0], entry[1]))
    return out


def _check_labels(spec: _Spec, labels: Sequence[str]) -> None:
    if spec.prefill and spec.prefill["label"] is not None and spec.prefill["label"] not in labels:
        raise ConfigError(
            f"sample {spec.sample_id}: prefill label {spec.prefill['label']!r} is not one of "
            f"the queue's labels ({', '.join(labels)})"
        )


def _drop_known(conn: Connection, specs: list[_Spec]) -> list[_Spec]:
    """Specs whose sample has no task of the same kind yet (in any queue; gold copies
    aside) and, for label tasks, no decided label; duplicates in ``specs`` drop too."""
    known: set[tuple[str, str]] = set()
    ids = sorted({s.sample_id for s in specs})
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in conn.execute(
            select(t.tasks.c.sample_id, t.tasks.c.kind).where(
                t.tasks.c.sample_id.in_(chunk), t.tasks.c.is_gold.is_(False)
            )
        ):
            known.add((row.sample_id, row.kind))
        for row in conn.execute(
            select(t.labels.c.sample_id).where(t.labels.c.sample_id.in_(chunk))
        ):
            known.add((row.sample_id, "label"))
    fresh = []
    for spec in specs:
        key = (spec.sample_id, spec.kind)
        if key not in known:
            known.add(key)
            fresh.append(spec)
    return fresh


def _next_priority(conn: Connection, queue_id: int) -> float:
    """Below every open task, so a new selection queues behind the previous one."""
    lowest = conn.execute(
        select(func.min(t.tasks.c.priority)).where(
            t.tasks.c.queue_id == queue_id, t.tasks.c.status == "open"
        )
    ).scalar()
    return float(lowest) - 1.0 if lowest is not None else 0.0


def _task_row(q: Any, spec: _Spec, priority: float, created: float) -> dict[str, Any]:
    return {
        "queue_id": q.id,
        "sample_id": spec.sample_id,
        "kind": spec.kind,
        "prefill": spec.prefill,
        "priority": priority,
        "is_gold": False,
        "needed": q.consensus,
        "answers": 0,
        "status": "open",
        "created_at": created,
    }


def _gold_rows(
    conn: Connection, q: Any, n_label: int, rng: random.Random
) -> tuple[list[dict[str, Any]], float]:
    """Gold copies owed for ``n_label`` new label tasks: gold/(gold+label) = gold_rate;
    the fraction left over carries to the next enqueue. Verify tasks owe no gold: gold
    copies are label tasks and gold scores label answers only, so gold among verify-only
    work would be the only label tasks there, plain to see. An enqueue without label
    tasks leaves the carry owed to the next one that has some. Least-served gold first."""
    carry = conn.execute(select(t.queues.c.gold_carry).where(t.queues.c.id == q.id)).scalar_one()
    if q.gold_rate <= 0 or n_label == 0:
        return [], carry
    owed = n_label * q.gold_rate / (1.0 - q.gold_rate) + carry
    served = (
        select(func.count(t.tasks.c.id))
        .where(
            t.tasks.c.queue_id == t.gold.c.queue_id,
            t.tasks.c.sample_id == t.gold.c.sample_id,
            t.tasks.c.is_gold.is_(True),
        )
        .correlate(t.gold)
        .scalar_subquery()
    )
    pool = conn.execute(
        select(t.gold.c.sample_id, t.gold.c.label, t.gold.c.prefill, served.label("served")).where(
            t.gold.c.queue_id == q.id
        )
    ).all()
    if not pool:
        return [], carry  # nothing to mix in yet; no debt piles up
    # At most one copy of a gold sample per enqueue: the same sample twice in one
    # lease would give gold away. What cannot be placed now is owed to the next one.
    n_gold = min(int(owed), len(pool))
    order = sorted(pool, key=lambda r: (r.served, rng.random()))
    rows = []
    for g in order[:n_gold]:
        rows.append(
            {
                "queue_id": q.id,
                "sample_id": g.sample_id,
                "kind": "label",
                "prefill": g.prefill,
                "answer": g.label,  # popped before insert: shapes a prefill when none is stored
                "is_gold": True,
                "needed": q.consensus,
                "answers": 0,
                "status": "open",
            }
        )
    return rows, min(owed - n_gold, float(len(pool)))


def _prefill_like(
    template: Mapping[str, Any], answer: str, labels: Sequence[str], rng: random.Random
) -> dict[str, Any]:
    """A gold copy's prefill in the shape of a neighbour's (same confidence, same top-k
    probabilities and length), so gold does not stand out by its prefill. The gold
    answer is on top with the neighbour's confidence as its chance, as a calibrated
    model's guess would be, so accepting the prefill scores on gold as it does elsewhere.
    """
    others = [label for label in labels if label != answer]
    rng.shuffle(others)
    confidence = template.get("confidence")
    right = rng.random() < (0.5 if confidence is None else float(confidence))
    order = [answer, *others] if right else [others[0], answer, *others[1:]]
    top_k = [[label, p] for label, (_, p) in zip(order, template.get("top_k") or [], strict=False)]
    label = order[0] if template.get("label") is not None else None
    return {"label": label, "confidence": confidence, "top_k": top_k}


def add_gold(engine: Engine, queue: str, items: Iterable[Mapping[str, Any]]) -> int:
    """Record known answers (``sample_id``, ``label``, optional ``prefill``) for ``queue``.

    Each gold sample also gets a ``labels`` row (method ``gold``). Returns how many were
    new; a sample that already has gold keeps its first answer."""
    rows = [dict(i) for i in items]

    def work(conn: Connection) -> int:
        q = get_queue(conn, queue)
        existing = {
            r.sample_id
            for r in conn.execute(select(t.gold.c.sample_id).where(t.gold.c.queue_id == q.id))
        }
        added = 0
        for i, row in enumerate(rows):
            spec = _check_item(
                i, {"sample_id": row.get("sample_id"), "prefill": row.get("prefill")}
            )
            label = row.get("label")
            if label not in q.labels:
                raise ConfigError(
                    f"gold item {i}: label {label!r} is not one of {', '.join(q.labels)}"
                )
            _check_labels(spec, q.labels)
            if spec.sample_id in existing:
                continue
            existing.add(spec.sample_id)
            created = now()
            conn.execute(
                t.gold.insert().values(
                    queue_id=q.id,
                    sample_id=spec.sample_id,
                    label=label,
                    prefill=spec.prefill,
                    created_at=created,
                )
            )
            conn.execute(
                t.labels.insert().values(
                    queue_id=q.id,
                    task_id=None,
                    sample_id=spec.sample_id,
                    kind="gold",
                    label=label,
                    method="gold",
                    votes={},
                    agreement=1.0,
                    confidence=1.0,
                    n_answers=0,
                    decided_at=created,
                )
            )
            added += 1
        return added

    return run_transaction(engine, work)


def open_tasks(engine: Engine, queue: str) -> int:
    """Tasks of ``queue`` still waiting for answers (gold copies aside)."""

    def work(conn: Any) -> int:
        q = get_queue(conn, queue)
        return int(
            conn.execute(
                select(func.count()).where(
                    t.tasks.c.queue_id == q.id,
                    t.tasks.c.status == "open",
                    t.tasks.c.is_gold.is_(False),
                )
            ).scalar_one()
        )

    return run_transaction(engine, work)


def queued_sample_ids(engine: Engine) -> set[str]:
    """Samples that have a task in any queue (gold copies aside); empty before the
    first queue exists."""
    from sqlalchemy import inspect

    if not inspect(engine).has_table(t.tasks.name):
        return set()
    with engine.connect() as conn:
        query = select(t.tasks.c.sample_id).where(t.tasks.c.is_gold.is_(False))
        return {row.sample_id for row in conn.execute(query)}


def scrub_prefills(engine: Engine, queue: str, blocklist: frozenset[str]) -> int:
    """Take blocklisted classes off the prefill of the queue's open label tasks (a
    blocklisted class is never suggested to an annotator). Returns tasks changed."""
    if not blocklist:
        return 0

    def work(conn: Any) -> int:
        q = get_queue(conn, queue)
        rows = conn.execute(
            select(t.tasks.c.id, t.tasks.c.prefill).where(
                t.tasks.c.queue_id == q.id,
                t.tasks.c.status == "open",
                t.tasks.c.kind == "label",
                t.tasks.c.prefill.is_not(None),
            )
        ).all()
        changed = 0
        for row in rows:
            clean = clean_prefill(row.prefill, blocklist)
            if clean != row.prefill:
                conn.execute(t.tasks.update().where(t.tasks.c.id == row.id).values(prefill=clean))
                changed += 1
        return changed

    return run_transaction(engine, work)


def clean_prefill(prefill: dict[str, Any], blocklist: frozenset[str]) -> dict[str, Any]:
    """The prefill without blocklisted classes: the label moves to the best other class.

    >>> clean_prefill({"label": "b", "confidence": .6, "top_k": [["b", .6], ["a", .3]]},
    ...                frozenset({"b"}))
    {'label': 'a', 'confidence': 0.3, 'top_k': [['a', 0.3]]}
    """
    top_k = [pair for pair in prefill.get("top_k") or [] if pair[0] not in blocklist]
    if prefill.get("label") not in blocklist:
        return {**prefill, "top_k": top_k}
    best = top_k[0] if top_k else (None, None)
    return {**prefill, "label": best[0], "confidence": best[1], "top_k": top_k}
