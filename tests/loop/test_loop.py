"""The loop end to end, in this process: a simulated vendor answers over the real HTTP
API whenever the loop waits, and two rounds run: select -> answer -> export -> train ->
gate -> rescore."""

from __future__ import annotations

import json

import pytest

from flywheel.cli import main
from flywheel.db import open_engine
from flywheel.lake import Lake
from flywheel.loop.config import DEFAULT_STRATEGY, LoopConfig
from flywheel.loop.controller import run_loop
from flywheel.loop.gates import GateConfig
from flywheel.loop.state import read_rounds, read_state
from flywheel.score import ScoreConfig
from flywheel.selection import SelectConfig
from flywheel.sim import SimulatedAnnotator, SimulatedVendor
from flywheel.train import TrainConfig
from flywheel.train.registry import Models
from tests.lake_checks import assert_one_row_per_key
from tests.loop.conftest import TRAIN, Template
from tests.queue.conftest import ApiServer

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.mark.slow
def test_two_rounds_with_a_simulated_vendor(
    loop_template: Template, api: ApiServer, capsys
) -> None:  # type: ignore[no-untyped-def]
    settings = loop_template.restore()
    api.start()
    vendor = SimulatedVendor(
        api.url,
        loop_template.token,
        "digits",
        loop_template.truth,
        [SimulatedAnnotator("ann-1"), SimulatedAnnotator("ann-2")],
    )
    config = LoopConfig(
        queue="digits",
        select=SelectConfig(DEFAULT_STRATEGY, budget=20, seed=0),
        train=TrainConfig(epochs=1, **TRAIN),  # type: ignore[arg-type]
        score=ScoreConfig(mc_passes=0),
        gates=GateConfig(tolerance=0.05),
        rounds=2,
        poll_s=0.2,
        max_idle_s=120,
    )
    lines: list[str] = []
    summary = run_loop(settings, config, on_idle=vendor.answer_all, echo=lines.append)
    vendor.close()
    text = "\n".join(lines)
    assert [r.round for r in summary.rounds] == [1, 2], text
    assert [r.version for r in summary.rounds] == ["m0002", "m0003"]
    assert all(r.decision in ("promoted", "rejected") for r in summary.rounds)
    assert all(r.new_labels == 20 for r in summary.rounds), text
    assert summary.stopped == "2 round(s) done" and vendor.answered == 40

    lake = Lake(settings)
    labels = lake.read("labels").to_pylist()
    assert len(labels) == 40
    assert all(r["label"] == loop_template.truth[r["sample_id"]] for r in labels)
    selections = lake.read("selections").to_pylist()
    assert sorted({r["round"] for r in selections}) == [1, 2]
    assert len({r["sample_id"] for r in selections}) == 40
    history = Models.read(lake)
    assert history.versions == ["m0001", "m0002", "m0003"]
    assert lake.read("models").num_rows == 3  # a state table: one row per version
    trail = [(e["version"], e["status"]) for e in history.events(lake)]
    assert trail[:2] == [("m0001", "promoted"), ("m0002", "candidate")] and len(trail) == 5
    assert history.latest["m0002"]["parent"] == "m0001"
    for version in ("m0002", "m0003"):
        gate = json.loads(history.latest[version]["metrics"])["gate"]
        assert gate["tolerance"] == 0.05 and "accuracy" in gate["checks"]
    current = history.promoted()["version"]
    scored = lake.read(
        "predictions", columns=["sample_id"], row_filter=f"model_version == '{current}'"
    )
    pool = lake.read("samples", columns=["sample_id"], row_filter="split == 'pool'")
    assert scored.num_rows == pool.num_rows  # the promoted model scored the whole pool
    rows = assert_one_row_per_key(settings)  # every state table, through flywheel.sql
    assert rows["labels"] == 40 and rows["models"] == 3
    for needle in (
        "(selection round 1)",
        "export:",
        "round 1: training m0002",
        "gate accuracy",
        "round 2: m0003",
    ):
        assert needle in text, text

    engine = open_engine(settings.catalog_uri)
    state = read_state(engine, "default")
    rounds = read_rounds(engine, "default")
    engine.dispose()
    assert state is not None and state.phase == "stopped" and state.owner is None
    assert [(r.round, r.candidate) for r in rounds] == [(1, "m0002"), (2, "m0003")]
    assert all(r.finished_at is not None for r in rounds)

    capsys.readouterr()
    assert main(["--root", str(settings.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "queue:    digits" in out and "40 landed in the last hour" in out
    assert f"model:    {current}" in out and "m0001" in out
    assert "default: not running (last: stopped" in out and "round 2: m0003" in out
