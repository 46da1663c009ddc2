"""The loop's steps on a real lake and queue database, without Ray: counting new labels,
re-enqueueing what a crash left out, keeping blocklisted classes out of prefills."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

import flywheel.loop.config
import flywheel.loop.evaluation
import flywheel.loop.gates
import flywheel.queue.tasks
from flywheel.config import Settings
from flywheel.db import open_engine
from flywheel.db import queue_tables as t
from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.loop import steps
from flywheel.queue import create_queue, enqueue
from flywheel.queue.tasks import open_tasks, scrub_prefills

SAMPLES = [f"{i:064x}" for i in range(1, 7)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(root=tmp_path / "root", environ={})


def _labels(ids: list[str], first: int) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {
            "label_id": first + i,
            "sample_id": s,
            "label": "cat",
            "kind": "label",
            "method": "single",
            "queue": "q",
            "task_id": None,
            "votes": [("cat", 1)],
            "agreement": 1.0,
            "confidence": 1.0,
            "n_answers": 1,
            "decided_at": now,
        }
        for i, s in enumerate(ids)
    ]
    return pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS["labels"])


def test_new_labels_count_from_the_snapshot_a_model_pinned(settings: Settings) -> None:
    lake = Lake(settings)
    assert steps.new_labels_since(lake, None) == 0
    lake.commit("labels", _labels(SAMPLES[:2], 1), {})
    model = {"snapshot_ids": json.dumps({"labels": lake.current_snapshot_id("labels")})}
    lake.commit("labels", _labels(SAMPLES[2:5], 3), {})
    assert steps.new_labels_since(lake, None) == 5
    assert steps.new_labels_since(lake, model) == 3
    empty = {"snapshot_ids": json.dumps({"labels": None})}  # trained before any label
    assert steps.new_labels_since(lake, empty, until=model) == 2


def _selection(ids: list[str], round_: int, queue: str) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {
            "round": round_,
            "sample_id": s,
            "strategy": "margin",
            "model_version": "m0001",
            "score": 1.0,
            "rank": i + 1,
            "kind": "label",
            "predicted_label": "dog",
            "confidence": 0.7,
            "top_k": [{"label": "dog", "prob": 0.7}, {"label": "cat", "prob": 0.2}],
            "weak_label": None,
            "queue": queue,
            "selected_at": now,
        }
        for i, s in enumerate(ids)
    ]
    return pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS["selections"])


def _prefills(engine, queue_id: int = 1) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    with engine.connect() as conn:
        rows = conn.execute(t.tasks.select().where(t.tasks.c.queue_id == queue_id)).all()
    return {r.sample_id: r.prefill for r in rows}


def test_picks_a_crash_left_unqueued_are_queued_once(settings: Settings) -> None:
    lake, engine = Lake(settings), open_engine(settings.catalog_uri)
    create_queue(engine, "q", ["cat", "dog"])
    lake.commit("selections", _selection(SAMPLES[:2], 1, "q"), {})
    enqueue(engine, "q", [{"sample_id": s} for s in SAMPLES[:2]])  # round 1 went in whole
    lake.commit("selections", _selection(SAMPLES[2:5], 2, "q"), {})  # round 2: crash here
    blocklist = frozenset({"dog"})
    assert steps.requeue_last_batch(settings, lake, engine, "q", blocklist) == 3
    assert steps.requeue_last_batch(settings, lake, engine, "q", blocklist) == 0
    prefills = _prefills(engine)
    assert set(prefills) == set(SAMPLES[:5])
    moved = prefills[SAMPLES[2]]  # the blocklisted top class gave way to the next one
    assert moved["label"] == "cat" and [c for c, _ in moved["top_k"]] == ["cat"]
    assert moved["confidence"] == pytest.approx(0.2)
    assert open_tasks(engine, "q") == 5
    engine.dispose()


def test_blocklisted_classes_leave_open_label_prefills(settings: Settings) -> None:
    engine = open_engine(settings.catalog_uri)
    create_queue(engine, "q", ["cat", "dog", "eel"])
    prefill = {"label": "dog", "confidence": 0.6, "top_k": [["dog", 0.6], ["eel", 0.3]]}
    enqueue(
        engine,
        "q",
        [
            {"sample_id": SAMPLES[0], "prefill": prefill},
            {"sample_id": SAMPLES[1], "prefill": {**prefill, "label": "eel"}},
            {"sample_id": SAMPLES[2], "kind": "verify", "prefill": prefill},
        ],
    )
    assert scrub_prefills(engine, "q", frozenset({"dog"})) == 2
    assert scrub_prefills(engine, "q", frozenset({"dog"})) == 0
    prefills = _prefills(engine)
    assert prefills[SAMPLES[0]] == {"label": "eel", "confidence": 0.3, "top_k": [["eel", 0.3]]}
    assert prefills[SAMPLES[1]]["label"] == "eel" and prefills[SAMPLES[1]]["top_k"] == [
        ["eel", 0.3]
    ]
    assert prefills[SAMPLES[2]]["label"] == "dog"  # verify asks "is this dog?": kept
    engine.dispose()


@pytest.mark.parametrize(
    "module",
    [
        flywheel.loop.config,
        flywheel.loop.evaluation,
        flywheel.loop.gates,
        flywheel.queue.tasks,  # the prefill scrub the loop applies
    ],
)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, verbose=False)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0
