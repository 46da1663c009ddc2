"""What a vendor may see: the media of tasks it holds or answered, and the samples of
those tasks. Another vendor's task, or a task this vendor never held, reads as absent
(404), so sequential ids confirm nothing (docs/decisions/queue-auth.md)."""

from __future__ import annotations

from sqlalchemy import Connection, and_, exists, or_, select

from flywheel.db import queue_tables as t
from flywheel.errors import NotFoundError
from flywheel.queue.store import Vendor, now


def media_task(conn: Connection, vendor: Vendor, task_id: int) -> tuple[str, int]:
    """(sample id, queue lease seconds) of ``task_id`` when ``vendor`` holds it in a
    live lease or has answered it; NotFoundError otherwise."""
    held = exists().where(
        t.leases.c.id == t.tasks.c.lease_id,
        t.leases.c.vendor_id == vendor.id,
        t.leases.c.released_at.is_(None),
    )
    answered = exists().where(t.annots.c.task_id == t.tasks.c.id, t.annots.c.vendor_id == vendor.id)
    row = conn.execute(
        select(t.tasks.c.sample_id, t.queues.c.lease_seconds)
        .join(t.queues, t.queues.c.id == t.tasks.c.queue_id)
        .join(t.vendor_queues, t.vendor_queues.c.queue_id == t.tasks.c.queue_id)
        .where(
            t.tasks.c.id == task_id,
            t.vendor_queues.c.vendor_id == vendor.id,
            or_(and_(held, t.tasks.c.lease_expires_at > now()), answered),
        )
    ).first()
    if row is None:
        raise NotFoundError(f"no task {task_id} held or answered by vendor {vendor.name!r}")
    return str(row.sample_id), int(row.lease_seconds)


def check_seen(conn: Connection, vendor: Vendor, sample_id: str) -> None:
    """NotFoundError unless ``vendor`` was ever leased a task of ``sample_id`` (the
    same answer whether or not the sample exists, so it is no existence oracle)."""
    leased = (
        select(t.lease_tasks.c.task_id)
        .join(t.leases, t.leases.c.id == t.lease_tasks.c.lease_id)
        .join(t.tasks, t.tasks.c.id == t.lease_tasks.c.task_id)
        .where(t.leases.c.vendor_id == vendor.id, t.tasks.c.sample_id == sample_id)
        .limit(1)
    )
    answered = (
        select(t.annots.c.id)
        .join(t.tasks, t.tasks.c.id == t.annots.c.task_id)
        .where(t.annots.c.vendor_id == vendor.id, t.tasks.c.sample_id == sample_id)
        .limit(1)
    )
    if conn.execute(leased).first() is None and conn.execute(answered).first() is None:
        raise NotFoundError(
            f"no sample {sample_id[:12]}... among the tasks of vendor {vendor.name!r}; "
            "report the media itself (media_base64)"
        )
