"""``flywheel status``: the flywheel at a glance, read from the lake and the database.

Nothing here writes; a status can be asked for while a loop runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from textwrap import shorten

import pyarrow.compute as pc

from flywheel.config import Settings
from flywheel.db import open_engine
from flywheel.lake import Lake
from flywheel.loop.state import LoopState, Round, read_events, read_rounds, read_state
from flywheel.train import Models


@dataclass
class Status:
    splits: dict[str, int]  # split -> samples
    labelled: int  # distinct samples with a consolidated label
    labels_last_hour: int
    queues: list[tuple[str, int, int, int]]  # (name, open, leased, done)
    current: str | None
    current_accuracy: float | None
    trend: list[tuple[str, float]]  # promoted versions and their accuracy, oldest first
    models: int
    gallery: int
    loop_name: str
    loop: LoopState | None
    rounds: list[Round] = field(default_factory=list)
    events: list[tuple[float, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        split = ", ".join(f"{k} {v}" for k, v in sorted(self.splits.items())) or "empty"
        out = [
            f"samples:  {split}; {self.labelled} labelled; gallery {self.gallery}",
            f"labels:   {self.labels_last_hour} landed in the last hour",
        ]
        for name, open_, leased, done in self.queues:
            out.append(f"queue:    {name}: open {open_}, leased {leased}, done {done}")
        if self.current is None:
            out.append(f"model:    none promoted ({self.models} trained)")
        else:
            trend = " -> ".join(f"{v} {a:.3f}" for v, a in self.trend[-6:])
            out.append(
                f"model:    {self.current} (accuracy {self.current_accuracy:.3f}); "
                f"{self.models} trained; promoted: {trend}"
            )
        out.append(f"loop:     {self._loop_line()}")
        for r in self.rounds[-3:]:
            decision = r.decision or "in progress"
            reason = f" — {shorten(r.reason, 110)}" if r.reason else ""
            out.append(f"  round {r.round}: {r.candidate or '?'} {decision}{reason}")
        for at, step, message in self.events[-5:]:
            when = datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")
            out.append(f"  {when} {step:<7} {shorten(message, 120)}")
        return out

    def _loop_line(self) -> str:
        s = self.loop
        if s is None:
            return f"{self.loop_name}: never run"
        detail = f" {s.detail}" if s.detail else ""
        if s.owner is None:
            return f"{self.loop_name}: not running (last: {s.phase}{detail})"
        age = time.time() - (s.heartbeat_at or s.updated_at)
        return (
            f"{self.loop_name}: {s.phase}{detail} (round {s.round or '-'}, run by {s.owner}, "
            f"heartbeat {age:.0f}s ago)"
        )


def read_status(settings: Settings, loop_name: str = "default") -> Status:
    """Gather the status; an empty data root reads as an empty flywheel."""
    from flywheel.queue import queue_stats

    lake = Lake(settings)
    samples = lake.read("samples", columns=["split"])
    splits = {r["values"]: r["counts"] for r in pc.value_counts(samples["split"]).to_pylist()}
    labels = lake.read("labels", columns=["sample_id", "decided_at"])
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    recent = pc.sum(pc.greater_equal(labels["decided_at"], hour_ago)).as_py() if len(labels) else 0
    history = Models.read(lake)
    current = history.promoted()
    feedback = lake.read("feedback", columns=["sample_id"])
    engine = open_engine(settings.catalog_uri)
    try:
        stats = queue_stats(engine, refresh=False)
        state = read_state(engine, loop_name)
        rounds = read_rounds(engine, loop_name)
        events = read_events(engine, loop_name)
    finally:
        engine.dispose()
    return Status(
        splits={str(k): int(v) for k, v in splits.items()},
        labelled=len(set(labels["sample_id"].to_pylist())),
        labels_last_hour=int(recent or 0),
        queues=[(s.queue, s.open, s.leased, s.done) for s in stats],
        current=None if current is None else str(current["version"]),
        current_accuracy=None if current is None else float(current["accuracy"]),
        trend=history.accuracy_trend(),
        models=len(history.latest),
        gallery=len(set(feedback["sample_id"].to_pylist())),
        loop_name=loop_name,
        loop=state,
        rounds=rounds,
        events=events,
    )
