"""The queue database: queues and vendors.

The engine and its transactions are :mod:`flywheel.db`'s (``open_engine``,
``transaction``, ``run_transaction``), re-exported here for the queue's modules.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select

from flywheel.db import queue_tables as t
from flywheel.db import run_transaction
from flywheel.errors import ConfigError, NotFoundError
from flywheel.queue.errors import AuthError

T = TypeVar("T")

VERIFY_LABELS = ("yes", "no", "unsure")
DEFAULT_LEASE_SECONDS = 600
MAX_LEASE_SECONDS = 24 * 3600
DEFAULT_MIN_AGREEMENT = 0.6


def now() -> float:
    """The queue's clock: UNIX seconds."""
    return time.time()


def hash_token(token: str) -> str:
    """sha256 hex of a bearer token. Tokens are 32 random bytes, so no salt or slow
    hash is needed: there is nothing to guess."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# queues


@dataclass(frozen=True)
class Queue:
    """One annotation queue, as stored."""

    id: int
    name: str
    labels: tuple[str, ...]
    consensus: int
    max_answers: int
    min_agreement: float
    gold_rate: float
    lease_seconds: int
    instructions: str

    def choices(self, kind: str) -> tuple[str, ...]:
        """The answers a task of ``kind`` accepts."""
        return VERIFY_LABELS if kind == "verify" else self.labels


def _queue_from_row(row: Any) -> Queue:
    return Queue(
        id=row.id,
        name=row.name,
        labels=tuple(row.labels),
        consensus=row.consensus,
        max_answers=row.max_answers,
        min_agreement=row.min_agreement,
        gold_rate=row.gold_rate,
        lease_seconds=row.lease_seconds,
        instructions=row.instructions,
    )


def create_queue(
    engine: Engine,
    name: str,
    labels: Sequence[str],
    consensus: int = 1,
    gold_rate: float = 0.0,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    instructions: str = "",
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    max_answers: int | None = None,
) -> Queue:
    """Create a queue. Low agreement re-opens a task until ``max_answers`` answers
    (default ``2 * consensus + 1``) are in; then the weighted winner is taken as is."""
    labels = [label.strip() for label in labels if label.strip()]
    if not name or len(name) > 200 or "/" in name:
        raise ConfigError(f"queue name {name!r} must be 1-200 characters without '/'")
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ConfigError(f"--labels {','.join(labels)!r} must name at least 2 distinct labels")
    if consensus < 1:
        raise ConfigError(f"--consensus {consensus} must be at least 1")
    if not 0.0 <= gold_rate <= 0.5:
        raise ConfigError(f"--gold-rate {gold_rate} must be between 0 and 0.5")
    if not 1 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise ConfigError(f"--lease-seconds {lease_seconds} must be 1..{MAX_LEASE_SECONDS}")
    max_answers = max_answers if max_answers is not None else 2 * consensus + 1
    if max_answers < consensus:
        raise ConfigError(f"max answers {max_answers} is below --consensus {consensus}")

    def work(conn: Connection) -> Queue:
        if conn.execute(select(t.queues.c.id).where(t.queues.c.name == name)).first():
            raise ConfigError(f"queue {name!r} already exists; pick another name")
        conn.execute(
            t.queues.insert().values(
                name=name,
                labels=labels,
                consensus=consensus,
                max_answers=max_answers,
                min_agreement=min_agreement,
                gold_rate=gold_rate,
                gold_carry=0.0,
                lease_seconds=lease_seconds,
                instructions=instructions,
                created_at=now(),
            )
        )
        return get_queue(conn, name)

    return run_transaction(engine, work)


def get_queue(conn: Connection, name: str) -> Queue:
    row = conn.execute(select(t.queues).where(t.queues.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no queue named {name!r}; `flywheel queue stats` lists them")
    return _queue_from_row(row)


def get_queue_by_id(conn: Connection, queue_id: int) -> Queue:
    row = conn.execute(select(t.queues).where(t.queues.c.id == queue_id)).one()
    return _queue_from_row(row)


def list_queues(conn: Connection, vendor_id: int | None = None) -> list[Queue]:
    """All queues, or those of one vendor, by name."""
    query = select(t.queues).order_by(t.queues.c.name)
    if vendor_id is not None:
        query = query.join(t.vendor_queues, t.vendor_queues.c.queue_id == t.queues.c.id).where(
            t.vendor_queues.c.vendor_id == vendor_id
        )
    return [_queue_from_row(row) for row in conn.execute(query)]


# ---------------------------------------------------------------------------------------
# vendors


@dataclass(frozen=True)
class Vendor:
    id: int
    name: str


def add_vendor(
    engine: Engine, name: str, queue_names: Sequence[str], annotators: Sequence[str] = ()
) -> str:
    """Create a vendor with access to ``queue_names``; returns its new bearer token,
    which is shown once and stored only as a hash. With ``annotators`` the vendor may
    answer only under those names (each counts once towards consensus; one name makes
    the vendor one annotator); without, the names it sends are trusted."""
    names = [q.strip() for q in queue_names if q.strip()]
    people = sorted({a.strip() for a in annotators if a.strip()})
    if not name or len(name) > 200 or not name.isprintable():
        raise ConfigError(f"vendor name {name!r} must be 1-200 printable characters")
    bad = [a for a in people if len(a) > 200 or not a.isprintable()]
    if bad:
        raise ConfigError(f"annotator name {bad[0]!r} must be 1-200 printable characters")
    if not names:
        raise ConfigError("--queues must name at least one queue")
    token = secrets.token_urlsafe(32)

    def work(conn: Connection) -> None:
        if conn.execute(select(t.vendors.c.id).where(t.vendors.c.name == name)).first():
            raise ConfigError(f"vendor {name!r} already exists; revoke it or pick another name")
        queue_ids = [get_queue(conn, q).id for q in names]
        vendor_id = conn.execute(
            t.vendors.insert().values(name=name, token_hash=hash_token(token), created_at=now())
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            t.vendor_queues.insert(), [{"vendor_id": vendor_id, "queue_id": q} for q in queue_ids]
        )
        if people:
            conn.execute(
                t.vendor_annotators.insert(),
                [{"vendor_id": vendor_id, "annotator": a} for a in people],
            )

    run_transaction(engine, work)
    return token


def registered_annotators(conn: Connection, vendor: Vendor) -> frozenset[str]:
    """The names ``vendor`` must answer under; empty when its names are trusted."""
    rows = conn.execute(
        select(t.vendor_annotators.c.annotator).where(t.vendor_annotators.c.vendor_id == vendor.id)
    )
    return frozenset(r.annotator for r in rows)


def revoke_vendor(engine: Engine, name: str) -> int:
    """Revoke a vendor's token at once and release its live leases, so their tasks go
    back to the queue now rather than at expiry. Returns how many tasks went back."""

    def work(conn: Connection) -> int:
        at = now()
        result = conn.execute(
            t.vendors.update()
            .where(t.vendors.c.name == name, t.vendors.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        if result.rowcount == 0:
            raise NotFoundError(f"no active vendor named {name!r}")
        vendor_id = conn.execute(
            select(t.vendors.c.id).where(t.vendors.c.name == name)
        ).scalar_one()
        live = select(t.leases.c.id).where(
            t.leases.c.vendor_id == vendor_id, t.leases.c.released_at.is_(None)
        )
        returned = conn.execute(
            t.tasks.update()
            .where(t.tasks.c.lease_id.in_(live))
            .values(lease_id=None, lease_expires_at=None)
        )
        conn.execute(
            t.leases.update()
            .where(t.leases.c.vendor_id == vendor_id, t.leases.c.released_at.is_(None))
            .values(released_at=at)
        )
        return int(returned.rowcount or 0)

    return run_transaction(engine, work)


def get_vendor(conn: Connection, name: str) -> Vendor:
    row = conn.execute(
        select(t.vendors.c.id, t.vendors.c.name).where(t.vendors.c.name == name)
    ).first()
    if row is None:
        raise NotFoundError(f"no vendor named {name!r}; add one with `flywheel vendor add`")
    return Vendor(row.id, row.name)


def authenticate(conn: Connection, token: str | None) -> Vendor:
    """The vendor holding ``token``; AuthError when it is missing, unknown or revoked."""
    if not token:
        raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
    row = conn.execute(
        select(t.vendors.c.id, t.vendors.c.name, t.vendors.c.revoked_at).where(
            t.vendors.c.token_hash == hash_token(token)
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid or revoked token")
    return Vendor(row.id, row.name)


def vendor_queue(conn: Connection, vendor: Vendor, name: str) -> Queue:
    """Queue ``name`` if ``vendor`` may use it; a queue of someone else reads as absent."""
    row = conn.execute(
        select(t.queues)
        .join(t.vendor_queues, t.vendor_queues.c.queue_id == t.queues.c.id)
        .where(t.queues.c.name == name, t.vendor_queues.c.vendor_id == vendor.id)
    ).first()
    if row is None:
        raise NotFoundError(f"no queue named {name!r} for vendor {vendor.name!r}")
    return _queue_from_row(row)
