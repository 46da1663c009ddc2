"""The controller: ``run_loop(settings, LoopConfig(...))``.

Each tick::

    depth  = open tasks in the queue          (read first: see loop-rounds.md)
    export   new answers and labels           (exactly once)
    round    when >= N new labels landed (or the period passed) since the last model:
             train a candidate from the promoted model -> gate -> promote or reject
             -> the promoted model scores the pool
    select   when depth <= low water: score what is missing, select, enqueue

A round is recorded in the database before its candidate is trained (which version it
trains) and finished after the decision and the rescore; the lake holds everything
else. A controller that is killed at any point is simply started again: it finishes the
open round (training again if the candidate never registered, gating it if undecided)
and carries on, with nothing lost and nothing done twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flywheel.config import Settings
from flywheel.db import open_engine
from flywheel.lake import Lake
from flywheel.loop import steps
from flywheel.loop.config import LoopConfig
from flywheel.loop.errors import LoopTakenOverError
from flywheel.loop.gates import gate_candidate
from flywheel.loop.state import LoopStore, Round
from flywheel.queue import open_tasks
from flywheel.train import PROMOTED_ALIAS, Models

Echo = Callable[[str], None]
IdleHook = Callable[[], object]  # returns truthy when it did something (answered tasks)


@dataclass
class RoundSummary:
    round: int
    version: str
    decision: str
    reason: str
    accuracy: float | None = None
    against: str | None = None
    against_accuracy: float | None = None
    new_labels: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.3f}"
        if self.against_accuracy is not None:
            acc += f" (vs {self.against_accuracy:.3f} for {self.against})"
        why = "" if self.reason.startswith("passed gates") else f" — {self.reason}"
        return (
            f"round {self.round}: {self.version} {self.decision}{acc}; "
            f"{self.new_labels} new labels; {self.seconds:.1f}s{why}"
        )


@dataclass
class LoopSummary:
    rounds: list[RoundSummary] = field(default_factory=list)
    ticks: int = 0
    batches: int = 0
    stopped: str = ""

    def lines(self) -> list[str]:
        out = [r.line() for r in self.rounds]
        out.append(
            f"loop stopped ({self.stopped}): {len(self.rounds)} round(s), "
            f"{self.batches} batch(es) selected, {self.ticks} tick(s)"
        )
        return out


def run_loop(
    settings: Settings,
    config: LoopConfig,
    on_idle: IdleHook | None = None,
    echo: Echo | None = None,
) -> LoopSummary:
    """Run the loop until ``config.rounds`` rounds finished (a round resumed from a
    killed controller counts), ``config.max_idle_s`` passed with nothing to do, or
    forever. ``on_idle`` is called whenever the loop waits for labels (a simulated
    vendor answers there); ``echo`` gets every progress line."""
    from flywheel.strategies import get_strategy

    get_strategy(config.select.strategy)  # an unknown name fails here, listing the known ones
    engine = open_engine(settings.catalog_uri)
    try:
        open_tasks(engine, config.queue)  # the queue exists
        store = LoopStore(engine, config.name, config.stale_after_s)
        store.claim()
        summary = _run_claimed(settings, config, store, engine, on_idle, echo or print)
    finally:
        engine.dispose()
    return summary


def _run_claimed(
    settings: Settings,
    config: LoopConfig,
    store: LoopStore,
    engine: Any,
    on_idle: IdleHook | None,
    echo: Echo,
) -> LoopSummary:
    controller = _Controller(settings, config, store, engine, echo)
    beat = _Heartbeat(store, interval_s=min(10.0, config.stale_after_s / 3))
    beat.start()
    try:
        summary = controller.run(on_idle)
    except KeyboardInterrupt:
        store.release("stopped", "interrupted")
        raise
    except BaseException as err:
        store.release("failed", f"{type(err).__name__}: {err}"[:500])
        raise
    finally:
        beat.stop()
    store.release("stopped", summary.stopped)
    return summary


class _Heartbeat(threading.Thread):
    """Keeps the claim alive while a long step (training) runs. Once another controller
    has taken the loop over it records the loss and stops beating; the controller itself
    stops at its next step, where ``set_phase`` finds the claim gone."""

    def __init__(self, store: LoopStore, interval_s: float) -> None:
        super().__init__(name="flywheel-loop-heartbeat", daemon=True)
        self.store, self.interval_s = store, interval_s
        self._stop_event = threading.Event()
        self.lost: LoopTakenOverError | None = None

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self.store.heartbeat()
            except LoopTakenOverError as err:
                self.lost = err
                return
            except Exception:  # a busy database; the next beat tries again
                continue

    def stop(self) -> None:
        self._stop_event.set()


class _Controller:
    def __init__(
        self, settings: Settings, config: LoopConfig, store: LoopStore, engine: Any, echo: Echo
    ) -> None:
        self.settings, self.config, self.store, self.engine = settings, config, store, engine
        self.lake = Lake(settings)
        self._echo = echo
        self.round_no: int | None = None
        self.pool_exhausted = False

    def say(self, step: str, message: str) -> None:
        self._echo(message)
        self.store.log(step, message.strip(), self.round_no)

    def phase(self, phase: str, detail: str = "") -> None:
        self.store.set_phase(phase, detail, self.round_no)

    def pause(self, point: str) -> None:
        """Test hook: at a named point, announce it and wait to be killed."""
        if point in self.config.pause_at:
            self._echo(f"paused at {point} (test hook)")
            while True:
                time.sleep(3600)

    def run(self, on_idle: IdleHook | None) -> LoopSummary:
        summary = LoopSummary()
        added = steps.requeue_last_batch(
            self.settings, self.lake, self.engine, self.config.queue, self.config.gates.blocklist
        )
        if added:
            self.say("select", f"requeued {added} picks a stopped controller had not enqueued")
        idle_since: float | None = None
        while True:
            summary.ticks += 1
            did = self.tick(summary)
            if self.config.rounds is not None and len(summary.rounds) >= self.config.rounds:
                summary.stopped = f"{len(summary.rounds)} round(s) done"
                return summary
            if did:
                idle_since = None
                continue
            if on_idle is not None and on_idle():
                continue
            idle_since = idle_since if idle_since is not None else time.monotonic()
            if self.config.max_idle_s is not None and (
                time.monotonic() - idle_since >= self.config.max_idle_s
            ):
                summary.stopped = f"idle for {self.config.max_idle_s:g}s"
                return summary
            self.phase("waiting", f"for labels in queue {self.config.queue}")
            time.sleep(self.config.poll_s)

    def tick(self, summary: LoopSummary) -> bool:
        """One pass; True when it did anything."""
        depth = open_tasks(self.engine, self.config.queue)
        self.phase("export")
        exported = steps.export(self.lake, self.engine, self.pause)
        did = bool(exported.annotations or exported.labels)
        if did:
            self.say("export", f"export: {exported.annotations} answers, {exported.labels} labels")
        finished = self.advance_round()
        if finished is not None:
            summary.rounds.append(finished)
            self.say("round", finished.line())
            if self.config.rounds is not None and len(summary.rounds) >= self.config.rounds:
                return True
            did = True
        if depth <= self.config.low_water_mark:
            did = self.select(summary, depth) or did
        return did

    # rounds -------------------------------------------------------------------------

    def advance_round(self) -> RoundSummary | None:
        """Start a round when it is due, and take an open round as far as it goes."""
        open_round = self.store.open_round()
        history = Models.read(self.lake)
        if open_round is None:
            open_round = self._maybe_start(history)
            if open_round is None:
                return None
        self.round_no = open_round.round
        started = time.monotonic()
        version = open_round.candidate or history.next_version()
        row = history.latest.get(version)
        if row is None:
            row = self._train(open_round, version, history)
            history = Models.read(self.lake)
        new = steps.new_labels_since(self.lake, history.before(row["version"]), row)
        if row["status"] == "candidate":
            row = self._gate(row)
        if row["status"] == "promoted":
            self.phase("score", f"with {row['version']}")
            self.pause("score")
            score = replace(self.config.score, model=row["version"])
            steps.ensure_scored(self.settings, score, self.echo_step("score"))
        gate = _gate_facts(row)
        result = RoundSummary(
            round=open_round.round,
            version=row["version"],
            decision=row["status"],
            reason=row["reason"],
            accuracy=gate.get("accuracy", row["accuracy"]),
            against=gate.get("against"),
            against_accuracy=gate.get("against_accuracy"),
            new_labels=new,
            seconds=time.monotonic() - started,
        )
        self.store.finish_round(open_round.round, row["status"], row["reason"], vars(result))
        self.round_no = None
        return result

    def _maybe_start(self, history: Models) -> Round | None:
        undecided = history.undecided()
        if undecided:  # trained outside the loop (or before a crash): gate it
            return self.store.start_round(undecided[0]["version"])
        latest = history.latest_trained()
        new = steps.new_labels_since(self.lake, latest)
        due = new >= self.config.label_threshold
        if latest is not None and not due and self.config.every_s is not None and new > 0:
            age = time.time() - latest["created_at"].timestamp()
            due = age >= self.config.every_s
        if latest is None:
            due = True  # no model yet: a first one, on the weak labels
        if not due:
            return None
        return self.store.start_round(history.next_version())

    def _train(self, open_round: Round, version: str, history: Models) -> dict[str, Any]:
        from flywheel.train import train

        parent = history.promoted()
        config = replace(
            self.config.train,
            from_version=PROMOTED_ALIAS if parent else None,
            arch=None if parent else self.config.train.arch,  # a child keeps its parent's
        )
        origin = f"from {parent['version']}" if parent else "from scratch"
        self.phase("train", f"{version} {origin}")
        self.say("train", f"round {open_round.round}: training {version} {origin}")
        self.pause("train")
        summary = train(self.settings, config, on_epoch=self._epoch_line)
        if summary.version != version:  # another run registered a version meanwhile
            self.store.set_candidate(open_round.round, summary.version)
        self.say("train", f"  {summary.lines()[-1]}")
        return Models.read(self.lake).latest[summary.version]

    def _epoch_line(self, report: dict[str, Any]) -> None:
        self._echo(
            f"  epoch {report['epoch']}/{report['epochs']}  loss {report['train_loss']:.4f}  "
            f"accuracy {report['accuracy']:.3f}  macro-F1 {report['macro_f1']:.3f}"
        )
        # Taken over: training finishes; the next step's set_phase stops this controller.
        with contextlib.suppress(LoopTakenOverError):
            self.store.heartbeat()

    def _gate(self, row: dict[str, Any]) -> dict[str, Any]:
        self.phase("gate", row["version"])
        self.pause("gate")
        result = gate_candidate(self.lake, row, self.config.gates)
        for check in result.checks:
            self.say(
                "gate",
                f"  gate {check.name}: {'pass' if check.passed else 'FAIL'} — {check.detail}",
            )
        return Models.read(self.lake).latest[row["version"]]

    def echo_step(self, step: str) -> Echo:
        return lambda message: self.say(step, message)

    # selection ----------------------------------------------------------------------

    def select(self, summary: LoopSummary, depth: int) -> bool:
        promoted = Models.read(self.lake).promoted()
        if promoted is None:
            return False  # nothing to score with yet; the first round trains a model
        self.phase("score", f"with {promoted['version']}")
        score = replace(self.config.score, model=promoted["version"])
        steps.ensure_scored(self.settings, score, self.echo_step("score"))
        select = self.config.select
        self.phase("select", f"{select.strategy}, budget {select.budget}")
        self.pause("select")
        batch = steps.select_batch(
            self.settings, self.lake, self.engine, select, promoted["version"]
        )
        if batch is None:
            if not self.pool_exhausted:
                self.say("select", "select: every pool sample is labelled or queued")
            self.pool_exhausted = True
            return False
        self.pool_exhausted = False
        summary.batches += 1
        self.say(
            "select",
            f"select: {batch.picked} picks by {select.strategy} with "
            f"{promoted['version']} (selection round {batch.round}), {batch.enqueued} tasks "
            f"added to {self.config.queue} ({depth} were open)",
        )
        return True


def _gate_facts(row: dict[str, Any]) -> dict[str, Any]:
    import json

    gate = json.loads(row["metrics"]).get("gate")
    return gate if isinstance(gate, dict) else {}
