"""The loop's SQL tables (``fl_`` prefix), beside the queue's in the catalog database.

Private to :mod:`flywheel.loop` (an import-linter contract); :mod:`flywheel.loop.state`
reads and writes them.

    fl_loop_state   one row per loop name: holder, heartbeat, phase
    fl_loop_rounds  one row per round: candidate, then decision
    fl_loop_events  the progress lines
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Index, Integer, String, Table, Text, UniqueConstraint

from flywheel.db.base import Id, metadata

loop_state = Table(
    "fl_loop_state",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner_host", String(255)),
    Column("owner_pid", Integer),
    Column("claimed_at", Double),
    Column("heartbeat_at", Double),
    Column("released_at", Double),  # set when the holder stopped cleanly
    Column("phase", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("round", Integer),
    Column("updated_at", Double, nullable=False),
)

loop_rounds = Table(
    "fl_loop_rounds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("round", Integer, nullable=False),
    Column("candidate", String(64)),  # the version being trained; set before training
    Column("decision", String(16)),  # promoted | rejected
    Column("reason", Text),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("summary", JSON),
    UniqueConstraint("name", "round", name="fl_loop_rounds_round"),
)

loop_events = Table(
    "fl_loop_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("round", Integer),
    Column("step", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("at", Double, nullable=False),
)
Index("fl_loop_events_name", loop_events.c.name, loop_events.c.id)
