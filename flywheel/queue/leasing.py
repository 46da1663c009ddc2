"""Leases: handing tasks to a vendor for a while, extending and releasing them.

A task is in at most one live lease: it is picked only when it has no lease or its
lease has expired, and the pick locks the rows it takes (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so concurrent leases take different rows without waiting; the single
write lock on SQLite). An expired lease needs no sweeper: its tasks simply match the
pick again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select

from flywheel.db import queue_tables as t
from flywheel.errors import NotFoundError
from flywheel.queue.errors import LeaseExpiredError
from flywheel.queue.store import MAX_LEASE_SECONDS, Queue, Vendor, now, vendor_queue

MAX_TASKS_PER_LEASE = 500


@dataclass(frozen=True)
class LeasedTask:
    task_id: int
    sample_id: str
    kind: str
    labels: tuple[str, ...]  # the answers this task accepts
    prefill: dict[str, Any] | None


@dataclass(frozen=True)
class Lease:
    lease_id: str | None  # None when nothing was free: no lease is created
    expires_at: float | None
    queue: Queue
    tasks: list[LeasedTask]


def lease(
    conn: Connection,
    vendor: Vendor,
    queue_name: str,
    max_tasks: int,
    lease_seconds: int | None = None,
    kind: str | None = None,
) -> Lease:
    """Lease up to ``max_tasks`` open tasks of ``queue_name`` (highest priority first)
    for ``lease_seconds`` (default: the queue's), only of ``kind`` when given."""
    q = vendor_queue(conn, vendor, queue_name)
    at = now()
    pick = (
        select(t.tasks.c.id, t.tasks.c.sample_id, t.tasks.c.kind, t.tasks.c.prefill)
        .where(
            t.tasks.c.queue_id == q.id,
            t.tasks.c.status == "open",
            or_(t.tasks.c.lease_id.is_(None), t.tasks.c.lease_expires_at <= at),
        )
        .order_by(t.tasks.c.priority.desc(), t.tasks.c.id)
        # Twice as many as wanted, so the copies of one gold sample dropped below
        # (at most one per lease) still leave a full lease.
        .limit(2 * min(max_tasks, MAX_TASKS_PER_LEASE))
    )
    if kind is not None:
        pick = pick.where(t.tasks.c.kind == kind)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    rows = _one_per_sample(conn.execute(pick).all(), min(max_tasks, MAX_TASKS_PER_LEASE))
    if not rows:
        return Lease(None, None, q, [])
    lease_id = uuid.uuid4().hex
    ids = [r.id for r in rows]
    # The lease starts when its tasks are ours: after the pick, which may have waited on
    # the commit that let them go, so a lease never starts before the previous one ended.
    started = now()
    expires = started + min(lease_seconds or q.lease_seconds, MAX_LEASE_SECONDS)
    conn.execute(
        t.leases.insert().values(
            id=lease_id, vendor_id=vendor.id, queue_id=q.id, created_at=started, expires_at=expires
        )
    )
    conn.execute(t.lease_tasks.insert(), [{"lease_id": lease_id, "task_id": i} for i in ids])
    conn.execute(
        t.tasks.update()
        .where(t.tasks.c.id.in_(ids))
        .values(lease_id=lease_id, lease_expires_at=expires)
    )
    tasks = [LeasedTask(r.id, r.sample_id, r.kind, q.choices(r.kind), r.prefill) for r in rows]
    return Lease(lease_id, expires, q, tasks)


def _one_per_sample(rows: Sequence[Any], limit: int) -> list[Any]:
    """The first ``limit`` rows, at most one per sample: two copies of a gold sample in
    one lease would tell the vendor which tasks are gold."""
    seen: set[str] = set()
    kept: list[Any] = []
    for row in rows:
        if row.sample_id not in seen and len(kept) < limit:
            seen.add(row.sample_id)
            kept.append(row)
    return kept


def _own_lease(conn: Connection, vendor: Vendor, lease_id: str) -> Any:
    query = select(t.leases).where(t.leases.c.id == lease_id, t.leases.c.vendor_id == vendor.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # heartbeat and release of one lease in turn
    row = conn.execute(query).first()
    if row is None:
        # Another vendor's lease reads as absent: ids are not confirmed to strangers.
        raise NotFoundError(f"no lease {lease_id!r} for vendor {vendor.name!r}")
    return row


def heartbeat(
    conn: Connection, vendor: Vendor, lease_id: str, lease_seconds: int | None = None
) -> tuple[float, list[int]]:
    """Extend a live lease by ``lease_seconds`` (default: the queue's) from now.
    Returns the new expiry and the tasks the lease still holds (answered ones have
    left it)."""
    row = _own_lease(conn, vendor, lease_id)
    at = now()
    if row.released_at is not None or row.expires_at <= at:
        raise LeaseExpiredError(
            f"lease {lease_id} has {'been released' if row.released_at else 'expired'}; lease again"
        )
    if lease_seconds is None:
        lease_seconds = conn.execute(
            select(t.queues.c.lease_seconds).where(t.queues.c.id == row.queue_id)
        ).scalar_one()
    expires = at + min(lease_seconds, MAX_LEASE_SECONDS)
    conn.execute(t.leases.update().where(t.leases.c.id == lease_id).values(expires_at=expires))
    held = t.tasks.c.lease_id == lease_id
    conn.execute(t.tasks.update().where(held).values(lease_expires_at=expires))
    task_ids = [r.id for r in conn.execute(select(t.tasks.c.id).where(held).order_by(t.tasks.c.id))]
    return expires, task_ids


def release(conn: Connection, vendor: Vendor, lease_id: str) -> int:
    """Give a lease's unanswered tasks back to the queue now. Releasing twice, or an
    expired lease, is fine. Returns how many tasks went back."""
    row = _own_lease(conn, vendor, lease_id)
    if row.released_at is None:
        conn.execute(t.leases.update().where(t.leases.c.id == lease_id).values(released_at=now()))
    result = conn.execute(
        t.tasks.update()
        .where(t.tasks.c.lease_id == lease_id)
        .values(lease_id=None, lease_expires_at=None)
    )
    return int(result.rowcount or 0)
