"""The loop's own state, in SQL tables beside the queue's (same database, ``fl_`` prefix;
defined in :mod:`flywheel.db.loop_tables`, created by :func:`flywheel.db.open_engine`).

The lake holds the facts (labels, models and their decisions, predictions, selections);
these tables hold only what a restarted controller needs besides them:

    fl_loop_state   one row per loop name: who runs it (host, pid, heartbeat) and what
                    it is doing now (phase, detail), for `flywheel status`
    fl_loop_rounds  one row per round: the candidate version it trains (written before
                    training starts), then the decision; a round without finished_at
                    is resumed by the next controller
    fl_loop_events  the progress lines, for `flywheel status`

Only one controller runs a loop at a time: ``claim`` takes the loop over when no one
holds it, the holder's heartbeat is stale, or the holder was a process on this host
that no longer exists (the loop was killed). Every later write of a controller is fenced
on its claim (host, pid, claimed_at): once another controller has taken the loop over,
the old one's writes raise ``LoopTakenOverError`` and its release leaves the new holder's
row alone (docs/decisions/loop-fencing.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from flywheel.db import run_transaction
from flywheel.db.loop_tables import loop_events, loop_rounds, loop_state
from flywheel.loop.errors import LoopBusyError, LoopTakenOverError


@dataclass(frozen=True)
class Round:
    round: int
    candidate: str | None
    decision: str | None
    reason: str | None
    started_at: float
    finished_at: float | None
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class LoopState:
    name: str
    phase: str
    detail: str
    round: int | None
    owner: str | None  # host:pid of the holder, None when released
    heartbeat_at: float | None
    updated_at: float


class LoopStore:
    """The state of the loop ``name`` in the database behind ``engine``."""

    def __init__(self, engine: Engine, name: str, stale_after_s: float = 60.0) -> None:
        self.engine, self.name, self.stale_after_s = engine, name, stale_after_s
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.claimed_at: float | None = None  # the fencing token, set by claim

    def claim(self) -> None:
        """Become the loop's controller, or raise ``LoopBusyError`` naming the holder."""

        def work(conn: Any) -> float:
            # FOR UPDATE: under PostgreSQL's read committed, two claims of a released row
            # would both read it free and both write (SQLite's BEGIN IMMEDIATE serialises).
            query = select(loop_state).where(loop_state.c.name == self.name).with_for_update()
            row = conn.execute(query).first()
            at = time.time()
            if row is not None and self._held_by_other(row, at):
                raise LoopBusyError(
                    f"loop {self.name!r} is run by {row.owner_host}:{row.owner_pid} "
                    f"(heartbeat {at - row.heartbeat_at:.0f}s ago); stop it first, or wait "
                    f"{self.stale_after_s:.0f}s after it died"
                )
            if row is not None and row.claimed_at is not None and at <= row.claimed_at:
                at = math.nextafter(row.claimed_at, math.inf)  # every claim a new token
            values = {
                "owner_host": self.host,
                "owner_pid": self.pid,
                "claimed_at": at,
                "heartbeat_at": at,
                "released_at": None,
                "phase": "starting",
                "detail": "",
                "updated_at": at,
            }
            if row is None:
                conn.execute(loop_state.insert().values(name=self.name, **values))
            else:
                conn.execute(
                    loop_state.update().where(loop_state.c.name == self.name).values(**values)
                )
            return at

        self.claimed_at = run_transaction(self.engine, work)

    def _held_by_other(self, row: Any, at: float) -> bool:
        if row.released_at is not None or row.owner_pid is None:
            return False
        if (row.owner_host, row.owner_pid) == (self.host, self.pid):
            return False
        if row.owner_host == self.host and not _pid_alive(row.owner_pid):
            return False  # killed on this machine: take over at once
        return bool(at - (row.heartbeat_at or 0.0) < self.stale_after_s)

    def heartbeat(self) -> None:
        self._update(heartbeat_at=time.time())

    def release(self, phase: str = "stopped", detail: str = "") -> None:
        """Give the loop up; after a takeover, leave the new holder's row as it is."""
        at = time.time()
        with contextlib.suppress(LoopTakenOverError):  # not ours to release any more
            self._update(released_at=at, phase=phase, detail=detail, updated_at=at)

    def set_phase(self, phase: str, detail: str = "", round_: int | None = None) -> None:
        at = time.time()
        self._update(phase=phase, detail=detail, round=round_, updated_at=at, heartbeat_at=at)

    def log(self, step: str, message: str, round_: int | None = None) -> None:
        run_transaction(
            self.engine,
            lambda conn: conn.execute(
                loop_events.insert().values(
                    name=self.name, round=round_, step=step, message=message, at=time.time()
                )
            ),
        )

    def _update(self, **values: Any) -> None:
        def work(conn: Any) -> None:
            self._check_ours(conn)
            conn.execute(loop_state.update().where(loop_state.c.name == self.name).values(**values))

        run_transaction(self.engine, work)

    def _check_ours(self, conn: Any) -> None:
        """Raise ``LoopTakenOverError`` unless the loop's row still holds this store's
        claim. The row is locked (FOR UPDATE) until the caller's write commits, so a
        takeover lands either before the check or after the write, never between."""
        query = select(loop_state).where(loop_state.c.name == self.name).with_for_update()
        row = conn.execute(query).first()
        ours = (self.host, self.pid, self.claimed_at)
        if row is None or (row.owner_host, row.owner_pid, row.claimed_at) != ours:
            holder = "nobody" if row is None else f"{row.owner_host}:{row.owner_pid}"
            raise LoopTakenOverError(
                f"loop {self.name!r} was taken over by {holder}; this controller stops"
            )

    # rounds -------------------------------------------------------------------------

    def open_round(self) -> Round | None:
        """The round a controller left unfinished, if any."""
        return self._round(loop_rounds.c.finished_at.is_(None))

    def last_round(self) -> Round | None:
        return self._round(None)

    def _round(self, condition: Any) -> Round | None:
        query = select(loop_rounds).where(loop_rounds.c.name == self.name)
        if condition is not None:
            query = query.where(condition)
        row = run_transaction(
            self.engine,
            lambda conn: conn.execute(query.order_by(loop_rounds.c.round.desc())).first(),
        )
        return None if row is None else _round_from_row(row)

    def start_round(self, candidate: str) -> Round:
        """Record round N+1 and the version it is about to train (before training)."""

        def work(conn: Any) -> int:
            self._check_ours(conn)
            last = conn.execute(
                select(func.max(loop_rounds.c.round)).where(loop_rounds.c.name == self.name)
            ).scalar()
            number = int(last or 0) + 1
            conn.execute(
                loop_rounds.insert().values(
                    name=self.name, round=number, candidate=candidate, started_at=time.time()
                )
            )
            return number

        number = run_transaction(self.engine, work)
        round_ = self._round(loop_rounds.c.round == number)
        assert round_ is not None
        return round_

    def set_candidate(self, round_: int, candidate: str) -> None:
        self._update_round(round_, candidate=candidate)

    def finish_round(
        self, round_: int, decision: str, reason: str, summary: dict[str, Any]
    ) -> None:
        self._update_round(
            round_,
            decision=decision,
            reason=reason,
            summary=json.loads(json.dumps(summary, default=str)),
            finished_at=time.time(),
        )

    def _update_round(self, round_: int, **values: Any) -> None:
        def work(conn: Any) -> None:
            self._check_ours(conn)
            conn.execute(
                loop_rounds.update()
                .where(loop_rounds.c.name == self.name, loop_rounds.c.round == round_)
                .values(**values)
            )

        run_transaction(self.engine, work)


def read_state(engine: Engine, name: str) -> LoopState | None:
    """What loop ``name`` is doing, as its controller last wrote it."""
    row = run_transaction(
        engine,
        lambda conn: conn.execute(select(loop_state).where(loop_state.c.name == name)).first(),
    )
    if row is None:
        return None
    owner = None if row.released_at is not None else f"{row.owner_host}:{row.owner_pid}"
    return LoopState(
        row.name, row.phase, row.detail, row.round, owner, row.heartbeat_at, row.updated_at
    )


def read_rounds(engine: Engine, name: str, limit: int = 10) -> list[Round]:
    """The latest ``limit`` rounds of loop ``name``, oldest first."""
    rows = run_transaction(
        engine,
        lambda conn: conn.execute(
            select(loop_rounds)
            .where(loop_rounds.c.name == name)
            .order_by(loop_rounds.c.round.desc())
            .limit(limit)
        ).all(),
    )
    return [_round_from_row(r) for r in reversed(rows)]


def read_events(engine: Engine, name: str, limit: int = 10) -> list[tuple[float, str, str]]:
    """The latest ``limit`` progress lines of loop ``name``: (time, step, message)."""
    rows = run_transaction(
        engine,
        lambda conn: conn.execute(
            select(loop_events.c.at, loop_events.c.step, loop_events.c.message)
            .where(loop_events.c.name == name)
            .order_by(loop_events.c.id.desc())
            .limit(limit)
        ).all(),
    )
    return [(r.at, r.step, r.message) for r in reversed(rows)]


def _round_from_row(row: Any) -> Round:
    return Round(
        row.round,
        row.candidate,
        row.decision,
        row.reason,
        row.started_at,
        row.finished_at,
        row.summary,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
