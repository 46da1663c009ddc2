"""Taking answers: idempotent submits, consensus, and the decided label.

One request is one transaction: every answer in it is stored, or none is. An answer is
taken when its lease still holds the task, or else (late, or imported) when the task
still needs answers. A task that has its K counted answers is decided by a vote
weighted by each annotator's estimated accuracy; too little agreement asks for one more
answer, up to the queue's ``max_answers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from flywheel.db import queue_tables as t
from flywheel.errors import NotFoundError
from flywheel.queue.accuracy import AnnotatorKey, annotator_accuracy
from flywheel.queue.errors import ConflictError, InvalidAnswerError
from flywheel.queue.quality import accuracy_weight, weighted_vote
from flywheel.queue.store import Queue, Vendor, get_queue_by_id, now, registered_annotators


@dataclass(frozen=True)
class Answer:
    task_id: int
    annotator: str
    label: str | None
    skip: bool
    idempotency_key: str


@dataclass(frozen=True)
class Stored:
    """What a submit returns per answer; a retry with the same key returns the same."""

    annotation_id: int
    task_id: int
    idempotency_key: str


def submit(
    conn: Connection, vendor: Vendor, lease_id: str | None, answers: Sequence[Answer]
) -> list[Stored]:
    """Store ``answers`` (all or none). ``lease_id`` None is an import (Label Studio):
    each answer is then taken only if its task still needs answers."""
    at = now()
    lease = None
    if lease_id is not None:
        lease = conn.execute(
            select(t.leases).where(t.leases.c.id == lease_id, t.leases.c.vendor_id == vendor.id)
        ).first()
        if lease is None:
            raise NotFoundError(f"no lease {lease_id!r} for vendor {vendor.name!r}")
    known = _known_keys(conn, vendor, sorted({a.idempotency_key for a in answers}))
    new = [a for a in answers if a.idempotency_key not in known]
    _check_registered(conn, vendor, new)
    tasks = _lock_tasks(conn, vendor, lease_id, new)
    session = _Session(conn, vendor, lease, at, tasks)
    pending: dict[str, int] = {}  # key -> index among the session's new answers
    for answer in answers:
        prior = known.get(answer.idempotency_key)
        if prior is None and answer.idempotency_key not in pending:
            pending[answer.idempotency_key] = session.take(answer)
            known[answer.idempotency_key] = _Prior(
                0, answer.task_id, answer.annotator, answer.label, answer.skip,
                answer.idempotency_key,
            )  # fmt: skip
            continue
        prior = known[answer.idempotency_key]
        if (prior.task_id, prior.annotator, prior.label, prior.skip) != (
            answer.task_id,
            answer.annotator,
            answer.label,
            answer.skip,
        ):
            raise ConflictError(
                f"idempotency key {answer.idempotency_key!r} was used for another answer "
                f"(task {prior.task_id}); use a new key for a new answer"
            )
    new_ids = session.flush()
    for key, index in pending.items():
        known[key].annotation_id = new_ids[index]
    return [
        Stored(known[a.idempotency_key].annotation_id, a.task_id, a.idempotency_key)
        for a in answers
    ]


@dataclass
class _Prior:
    annotation_id: int
    task_id: int
    annotator: str
    label: str | None
    skip: bool
    idempotency_key: str


def _check_registered(conn: Connection, vendor: Vendor, answers: Sequence[Answer]) -> None:
    """A vendor with registered annotator names answers only under them
    (docs/decisions/queue-consensus.md): it cannot invent people to reach consensus."""
    registered = registered_annotators(conn, vendor)
    for answer in answers:
        if registered and answer.annotator not in registered:
            raise InvalidAnswerError(
                f"annotator {answer.annotator!r} is not registered for vendor {vendor.name!r}; "
                f"answer as one of: {', '.join(sorted(registered))}"
            )


def is_known(conn: Connection, vendor: Vendor, idempotency_key: str) -> bool:
    """Whether ``vendor`` already submitted an answer under ``idempotency_key``."""
    return bool(_known_keys(conn, vendor, [idempotency_key]))


def _known_keys(conn: Connection, vendor: Vendor, keys: Sequence[str]) -> dict[str, _Prior]:
    a = t.annots.c
    rows = conn.execute(
        select(a.id, a.task_id, a.annotator, a.label, a.skip, a.idempotency_key).where(
            a.vendor_id == vendor.id, a.idempotency_key.in_(keys)
        )
    )
    return {
        r.idempotency_key: _Prior(r.id, r.task_id, r.annotator, r.label, r.skip, r.idempotency_key)
        for r in rows
    }


def _lock_tasks(
    conn: Connection, vendor: Vendor, lease_id: str | None, answers: Sequence[Answer]
) -> dict[int, dict[str, Any]]:
    """The answered tasks, locked in id order (no deadlock between two submits), after
    checking each belongs to the lease, or to one of the vendor's queues for imports."""
    ids = sorted({a.task_id for a in answers})
    if not ids:
        return {}
    query = select(t.tasks).where(t.tasks.c.id.in_(ids)).order_by(t.tasks.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = {r.id: dict(r._mapping) for r in conn.execute(query)}
    if lease_id is not None:
        allowed = {
            r.task_id
            for r in conn.execute(
                select(t.lease_tasks.c.task_id).where(
                    t.lease_tasks.c.lease_id == lease_id, t.lease_tasks.c.task_id.in_(ids)
                )
            )
        }
        where = f"lease {lease_id}"
    else:
        mine = select(t.vendor_queues.c.queue_id).where(t.vendor_queues.c.vendor_id == vendor.id)
        allowed = {r.id for r in conn.execute(select(t.tasks.c.id).where(
            t.tasks.c.id.in_(ids), t.tasks.c.queue_id.in_(mine)
        ))}  # fmt: skip
        where = f"the queues of vendor {vendor.name!r}"
    for task_id in ids:
        if task_id not in rows or task_id not in allowed:
            raise InvalidAnswerError(f"task {task_id} is not in {where}")
    return rows


_UPDATE_TASK = (
    t.tasks.update()
    .where(t.tasks.c.id == bindparam("b_id"))
    .values(
        answers=bindparam("b_answers"),
        needed=bindparam("b_needed"),
        status=bindparam("b_status"),
        done_at=bindparam("b_done_at"),
        lease_id=bindparam("b_lease_id"),
        lease_expires_at=bindparam("b_lease_expires_at"),
    )
)
_INSERT_ANSWERS = t.annots.insert().returning(t.annots.c.id, sort_by_parameter_order=True)


class _Session:
    """One submit: checks and decisions in memory, then a few batched writes."""

    def __init__(
        self,
        conn: Connection,
        vendor: Vendor,
        lease: Any,
        at: float,
        tasks: dict[int, dict[str, Any]],
    ) -> None:
        self.conn, self.vendor, self.lease, self.at, self.tasks = conn, vendor, lease, at, tasks
        self.queues: dict[int, Queue] = {}
        self.accuracy: dict[int, dict[AnnotatorKey, float]] = {}  # per queue, fetched lazily
        self.answered: set[tuple[int, int, str]] = set()
        self.votes: dict[int, list[tuple[AnnotatorKey, str]]] = {tid: [] for tid in tasks}
        a = t.annots.c
        for r in conn.execute(
            select(a.task_id, a.vendor_id, a.annotator, a.label, a.counted)
            .where(a.task_id.in_(list(tasks)))
            .order_by(a.id)
        ):
            self.answered.add((r.task_id, r.vendor_id, r.annotator))
            if r.counted:
                self.votes[r.task_id].append(((r.vendor_id, r.annotator), r.label))
        self.new_answers: list[dict[str, Any]] = []
        self.new_labels: list[dict[str, Any]] = []
        self.changed: set[int] = set()

    def queue(self, queue_id: int) -> Queue:
        if queue_id not in self.queues:
            self.queues[queue_id] = get_queue_by_id(self.conn, queue_id)
        return self.queues[queue_id]

    def take(self, answer: Answer) -> int:
        """Check and record one answer; returns its index among the new answers."""
        task = self.tasks[answer.task_id]
        q = self.queue(task["queue_id"])
        _check_answer(answer, q.choices(task["kind"]))
        lease = self.lease
        held = (
            lease is not None
            and lease.released_at is None
            and task["lease_id"] == lease.id
            and (task["lease_expires_at"] or 0.0) > self.at
        )
        needed = task["status"] == "open" and task["answers"] < task["needed"]
        if not held and not needed:
            raise ConflictError(
                f"task {answer.task_id} needs no more answers and is no longer held by "
                f"{'this lease' if lease is not None else 'anyone'}; drop this answer"
            )
        who = (answer.task_id, self.vendor.id, answer.annotator)
        if who in self.answered:
            raise ConflictError(
                f"annotator {answer.annotator!r} already answered task {answer.task_id}; "
                "consensus needs distinct annotators"
            )
        self.answered.add(who)
        counted = not answer.skip and needed
        self.new_answers.append(
            {
                "task_id": answer.task_id,
                "vendor_id": self.vendor.id,
                "lease_id": lease.id if lease is not None else None,
                "annotator": answer.annotator,
                "label": answer.label,
                "skip": answer.skip,
                "counted": counted,
                "idempotency_key": answer.idempotency_key,
                "created_at": self.at,
            }
        )
        if held:  # answered (or skipped): back to the queue for the next annotator
            task.update(lease_id=None, lease_expires_at=None)
            self.changed.add(answer.task_id)
        if counted:
            assert answer.label is not None
            self.votes[answer.task_id].append(((self.vendor.id, answer.annotator), answer.label))
            task["answers"] += 1
            self.changed.add(answer.task_id)
            if task["answers"] >= task["needed"]:
                self._decide(task, q)
        return len(self.new_answers) - 1

    def _decide(self, task: dict[str, Any], q: Queue) -> None:
        """Close the task, or ask for one more answer when agreement is too low."""
        if task["is_gold"]:  # gold measures annotators; its label is already known
            task.update(status="done", done_at=self.at)
            return
        votes = self.votes[task["id"]]
        keys = [key for key, _label in votes]
        weights = [1.0] * len(votes)
        if len(votes) > 1:  # weights only matter when there is something to weigh
            accuracy = self._accuracy(q.id, keys)
            n_choices = len(q.choices(task["kind"]))
            weights = [accuracy_weight(accuracy[k], n_choices) for k in keys]
        decision = weighted_vote([label for _key, label in votes], weights)
        if decision.agreement < q.min_agreement and task["needed"] < q.max_answers:
            task["needed"] += 1
            return
        task.update(status="done", done_at=self.at)
        if task["kind"] == "verify" and decision.label != "yes":
            _relabel(self.conn, q, task, self.at)  # "no" or "unsure": ask for the label
            return
        self.new_labels.append(
            {
                "queue_id": q.id,
                "task_id": task["id"],
                "sample_id": task["sample_id"],
                "kind": task["kind"],
                "label": task["prefill"]["label"] if task["kind"] == "verify" else decision.label,
                "method": decision.method,
                "votes": decision.votes,
                "agreement": decision.agreement,
                "confidence": decision.confidence,
                "n_answers": decision.n_answers,
                "decided_at": self.at,
            }
        )

    def _accuracy(self, queue_id: int, keys: list[AnnotatorKey]) -> dict[AnnotatorKey, float]:
        """Accuracy estimates of ``keys`` (cached per submit; an annotator first seen
        later in the same batch is fetched then)."""
        cache = self.accuracy.setdefault(queue_id, {})
        missing = sorted(set(keys) - cache.keys())
        if missing:
            cache.update(annotator_accuracy(self.conn, queue_id, missing))
        return cache

    def flush(self) -> list[int]:
        """Write what ``take`` recorded; returns the new annotation ids in order."""
        ids: list[int] = []
        if self.new_answers:
            ids = [r.id for r in self.conn.execute(_INSERT_ANSWERS, self.new_answers)]
        if self.new_labels:
            self.conn.execute(t.labels.insert(), self.new_labels)
        if self.changed:
            self.conn.execute(
                _UPDATE_TASK,
                [
                    {f"b_{k}": self.tasks[tid][k] for k in _TASK_FIELDS} | {"b_id": tid}
                    for tid in sorted(self.changed)
                ],
            )
        return ids


_TASK_FIELDS = ("answers", "needed", "status", "done_at", "lease_id", "lease_expires_at")


def _check_answer(answer: Answer, choices: Sequence[str]) -> None:
    if answer.skip and answer.label is not None:
        raise InvalidAnswerError(f"task {answer.task_id}: send a label or skip, not both")
    if not answer.skip and answer.label not in choices:
        raise InvalidAnswerError(
            f"task {answer.task_id}: label {answer.label!r} is not one of {', '.join(choices)}"
        )


def _relabel(conn: Connection, q: Queue, task: dict[str, Any], at: float) -> None:
    """A verify task answered no/unsure becomes a label task (once per sample)."""
    exists = conn.execute(
        select(t.tasks.c.id).where(
            t.tasks.c.sample_id == task["sample_id"],
            t.tasks.c.kind == "label",
            t.tasks.c.is_gold.is_(False),
        )
    ).first()
    if exists:
        return
    rejected = task["prefill"]["label"]
    top_k = [p for p in task["prefill"].get("top_k") or [] if p[0] != rejected]
    conn.execute(
        t.tasks.insert().values(
            queue_id=q.id,
            sample_id=task["sample_id"],
            kind="label",
            prefill={"label": None, "confidence": None, "top_k": top_k},
            priority=task["priority"],
            is_gold=False,
            needed=q.consensus,
            answers=0,
            status="open",
            created_at=at,
        )
    )
