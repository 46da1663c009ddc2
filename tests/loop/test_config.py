"""``LoopConfig`` composes the stages' configs: ``flywheel loop``'s flags land in the
``SelectConfig``, ``TrainConfig``, ``ScoreConfig`` and ``GateConfig`` it holds, and each
step runs with them — a batch selected, a pool scored, and a round that a stopped
controller left open, resumed by the next one, trained and gated with them."""

from __future__ import annotations

import json

import pytest

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.db import open_engine
from flywheel.lake import Lake
from flywheel.lake.filters import equal
from flywheel.loop.cli import loop, loop_config
from flywheel.loop.config import LoopConfig
from flywheel.loop.gates import GateConfig
from flywheel.loop.state import LoopStore, read_rounds
from flywheel.score import ScoreConfig
from flywheel.selection import SelectConfig
from flywheel.train import TrainConfig
from flywheel.train.registry import Models
from tests.loop.conftest import Template

FLAGS = [
    "--queue", "digits", "--strategy", "entropy", "--budget", "12", "--seed", "7",
    "--epochs", "1", "--batch-size", "16", "--lr", "0.002", "--weak-weight", "0.5",
    "--mc-passes", "2", "--tolerance", "0.5", "--alpha", "0", "--poll", "0.2",
]  # fmt: skip


def _config(*args: str) -> LoopConfig:
    ctx = loop.make_context("loop", list(args))
    return loop_config(**ctx.params)


def test_each_flag_lands_in_the_config_it_belongs_to() -> None:
    config = _config(*FLAGS, "--blocklist", "seven", "--class-balanced", "--arch", "tiny-cnn")
    blocked = frozenset({"seven"})
    assert config.select == SelectConfig(
        "entropy", 12, queue="digits", class_balanced=True, seed=7, blocklist=blocked
    )
    assert config.train == TrainConfig(
        epochs=1, batch_size=16, lr=0.002, weak_weight=0.5, arch="tiny-cnn", seed=7
    )
    assert config.score == ScoreConfig(mc_passes=2)
    assert config.gates == GateConfig(tolerance=0.5, blocklist=blocked, alpha=0.0)
    assert (config.queue, config.poll_s, config.label_threshold, config.low_water_mark) == (
        "digits",
        0.2,
        12,
        6,
    )


def test_without_flags_the_config_is_the_loops_default() -> None:
    assert _config("--queue", "digits") == LoopConfig(queue="digits")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "epochs"),
        (["--weak-weight", "2"], "--weak-weight"),
        (["--mc-passes", "-1"], "mc_passes"),
        (["--tolerance", "3"], "--tolerance"),
        (["--budget", "0"], "--budget"),
    ],
)
def test_a_bad_flag_is_one_line_before_anything_runs(
    args: list[str], message: str, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env(root=tmp_path / "root", environ={})
    open_engine(settings.catalog_uri).dispose()  # a catalog, so the flags are what fails
    code = main(["--root", str(settings.root), "loop", "--queue", "q", *args])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and message in err, err


@pytest.mark.slow
@pytest.mark.usefixtures("ray_cluster")
def test_the_steps_and_a_resumed_round_run_with_the_flags(loop_template: Template) -> None:
    settings = loop_template.restore()
    root = str(settings.root)
    blocked = loop_template.classes[0]
    flags = [*FLAGS, "--blocklist", blocked]
    n_classes = len(loop_template.classes)

    # A first controller selects a batch (scoring the pool first), then idles out.
    assert main(["--root", root, "loop", *flags, "--max-idle", "0.5"]) == 0
    lake = Lake(settings)
    picks = lake.read("selections").to_pylist()
    assert len(picks) == 12
    assert {(p["strategy"], p["queue"], p["model_version"]) for p in picks} == {
        ("skip-known(entropy)", "digits", "m0001")  # the strategy, skipping queued samples
    }
    assert blocked not in {p["predicted_label"] for p in picks}
    scored = lake.read("predictions", row_filter=equal(model_version="m0001"))
    assert scored.num_rows > 0
    assert {len(m) for m in scored["mc_probs"].to_pylist()} == {2 * n_classes}

    # It stopped with a round open (as a killed one would: m0002 recorded, not trained);
    # the next controller, started with the same flags, finishes that round.
    engine = open_engine(settings.catalog_uri)
    try:
        killed = LoopStore(engine, "default")
        killed.claim()  # this process: the next controller here takes it over at once
        killed.start_round("m0002")
    finally:
        engine.dispose()
    assert main(["--root", root, "loop", *flags, "--rounds", "1"]) == 0

    row = Models.read(Lake(settings)).latest["m0002"]
    trained = json.loads(row["train_config"])
    assert {k: trained[k] for k in ("epochs", "batch_size", "lr", "weak_weight", "seed")} == {
        "epochs": 1,
        "batch_size": 16,
        "lr": 0.002,
        "weak_weight": 0.5,
        "seed": 7,
    }
    assert (trained["from_version"], trained["arch"]) == ("promoted", None)
    gate = json.loads(row["metrics"])["gate"]
    assert (gate["tolerance"], gate["alpha"], gate["blocklist"]) == (0.5, 0.0, [blocked])
    if row["status"] == "promoted":  # the new model rescored the pool with the flags too
        rescored = Lake(settings).read("predictions", row_filter=equal(model_version="m0002"))
        assert {len(m) for m in rescored["mc_probs"].to_pylist()} == {2 * n_classes}
    engine = open_engine(settings.catalog_uri)
    try:
        rounds = read_rounds(engine, "default")
    finally:
        engine.dispose()
    assert [(r.round, r.candidate, r.decision) for r in rounds] == [(1, "m0002", row["status"])]
