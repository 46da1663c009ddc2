"""The catalog database: one engine per process, and transactions on it.

``open_engine(url)`` opens SQLite or PostgreSQL and creates every table of
:data:`flywheel.db.base.metadata` (the queue's and the loop's) in one ``create_all``.
Every change runs in ``transaction``, which on SQLite takes the single write lock up
front (``BEGIN IMMEDIATE``, plus an in-process lock so threads queue instead of spinning
on ``database is locked``) and on PostgreSQL is a plain READ COMMITTED transaction whose
row locks (``FOR UPDATE [SKIP LOCKED]``) do the work.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from flywheel.db import loop_tables, queue_tables  # noqa: F401  (their tables join metadata)
from flywheel.db.base import metadata

T = TypeVar("T")

_sqlite_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_CREATE_LOCK = 4242001  # PostgreSQL advisory lock held while the tables are created


def open_engine(url: str) -> Engine:
    """An engine on the database at ``url`` with every table created (idempotent). A
    SQLite file's folder is made when missing.

    >>> engine = open_engine("sqlite://")
    >>> engine.dialect.name, "aq_tasks" in metadata.tables, "fl_loop_rounds" in metadata.tables
    ('sqlite', True, True)
    """
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        if not memory and make_url(url).database:
            Path(str(make_url(url).database)).parent.mkdir(parents=True, exist_ok=True)
        pool: dict[str, Any] = (
            {"poolclass": StaticPool} if memory else {"pool_size": 20, "max_overflow": 20}
        )
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **pool
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        _sqlite_locks[engine] = threading.Lock()
    else:
        engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)
    with transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            # create_all is check-then-create; two processes starting at once would race.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_CREATE_LOCK})")
        metadata.create_all(conn)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers (the Iceberg catalog) never block
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    lock = _sqlite_locks.get(engine)
    with lock or contextlib.nullcontext(), engine.begin() as conn:
        yield conn


def run_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 4) -> T:
    """Run ``work`` in a transaction, retrying when PostgreSQL reports a deadlock or a
    concurrent insert of the same unique key (two retries of one request racing)."""
    for attempt in range(attempts):
        try:
            with transaction(engine) as conn:
                return work(conn)
        except (IntegrityError, OperationalError) as err:
            code = getattr(err.orig, "pgcode", None)
            retryable = isinstance(err, IntegrityError) or code in ("40P01", "40001")
            if not retryable or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")
