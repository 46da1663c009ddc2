"""Score and select on real data: digits ingested, a real model trained with Ray Train,
the pool scored with Ray Data, and every strategy run through `flywheel select`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake, sql
from flywheel.score import ScoreConfig, score

pytestmark = pytest.mark.usefixtures("ray_cluster")
MC_PASSES = 8


@pytest.fixture(scope="module")
def scored(tmp_path_factory, digits_folder, ray_cluster) -> Settings:  # type: ignore[no-untyped-def]
    """A lake with the digits, model m0001 trained on their weak labels, pool scored."""
    root = tmp_path_factory.mktemp("scored") / "root"
    settings = Settings.from_env(root=root, environ={})
    ingest(settings, IngestConfig(str(digits_folder.root), digits_folder.taxonomy, progress=False))
    code = main(["--root", str(root), "train", "--epochs", "3", "--workers", "1",
                 "--batch-size", "16", "--lr", "3e-3"])  # fmt: skip
    assert code == 0
    summary = score(settings, ScoreConfig(batch_size=64, mc_passes=MC_PASSES))
    assert summary.scored == summary.pool > 0
    return settings


def _run(
    settings: Settings, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--root", str(settings.root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predictions_hold_probabilities_embeddings_and_uncertainty(scored: Settings) -> None:
    preds = Lake(scored).read("predictions").to_pylist()
    pool = (
        sql("select count(*) as n from samples where split = 'pool'", scored).column("n")[0].as_py()
    )
    assert len(preds) == pool and len({p["sample_id"] for p in preds}) == pool
    classes = sql("select class_names from models", scored).column("class_names")[0].as_py()
    for p in preds[:200]:
        probs = np.asarray(p["probs"])
        assert probs.shape == (len(classes),) and abs(probs.sum() - 1) < 1e-4
        top2 = np.sort(probs)[-2:]
        assert p["predicted_label"] == classes[int(probs.argmax())]
        assert p["confidence"] == pytest.approx(top2[1], abs=1e-6)
        assert p["margin"] == pytest.approx(top2[1] - top2[0], abs=1e-5)
        assert p["least_confidence"] == pytest.approx(1 - top2[1], abs=1e-5)
        assert len(p["embedding"]) > 8
        assert len(p["mc_probs"]) == MC_PASSES * len(classes) and p["bald"] >= 0


def test_the_model_is_better_than_chance_on_the_pool(scored: Settings, digits_folder) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    truth = {hashlib.sha256((digits_folder.root / rel).read_bytes()).hexdigest(): label
             for rel, label in digits_folder.truth.items()}  # fmt: skip
    preds = sql("select sample_id, predicted_label from predictions", scored).to_pylist()
    accuracy = np.mean([truth[p["sample_id"]] == p["predicted_label"] for p in preds])
    assert accuracy > 0.5  # ten classes: chance is 0.1


def test_scoring_again_adds_nothing(scored: Settings) -> None:
    lake = Lake(scored)
    before = lake.current_snapshot_id("predictions")
    again = score(scored, ScoreConfig())
    assert again.scored == 0 and again.already_scored == again.pool
    assert lake.current_snapshot_id("predictions") == before


def test_unknown_model_version_is_one_line(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    before = Lake(scored).snapshot_ids()
    code, _, err = _run(scored, capsys, "score", "--model", "m0999")
    assert code != 0 and err.count("\n") == 1 and "m0999" in err and "does not exist" in err
    assert Lake(scored).snapshot_ids() == before


def _picks(settings: Settings, round_: int) -> list[dict]:  # type: ignore[type-arg]
    return sql(
        f"select * from selections where round = {round_} order by rank", settings
    ).to_pylist()


def _last_round(settings: Settings) -> int:
    return int(sql("select max(round) as r from selections", settings).column("r")[0].as_py())


@pytest.mark.parametrize(
    "strategy", ["random", "least-confidence", "margin", "entropy", "bald", "kcenter", "badge"]
)
def test_every_strategy_selects_with_prefill(scored: Settings, strategy: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(
        scored, capsys, "select", "--strategy", strategy, "--budget", "15", "--seed", "0"
    )
    assert code == 0, err
    picks = _picks(scored, _last_round(scored))
    assert len(picks) == 15 and len({p["sample_id"] for p in picks}) == 15
    assert [p["rank"] for p in picks] == list(range(1, 16))
    assert all(p["predicted_label"] and p["top_k"] and p["model_version"] == "m0001" for p in picks)
    assert all(p["strategy"] == f"skip-known({strategy})" for p in picks)
    assert "15 of" in out and strategy in out


def test_margin_picks_the_closest_calls(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _run(scored, capsys, "select", "--strategy", "margin", "--budget", "20")[0] == 0
    picked = {p["sample_id"] for p in _picks(scored, _last_round(scored))}
    margins = sql("select sample_id, margin from predictions", scored).to_pylist()
    chosen = [m["margin"] for m in margins if m["sample_id"] in picked]
    rest = [m["margin"] for m in margins if m["sample_id"] not in picked]
    assert max(chosen) <= min(rest) + 1e-6


def test_class_balanced_spreads_over_predicted_classes(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(
        scored, capsys, "select", "--strategy", "entropy", "--budget", "20", "--class-balanced"
    )
    assert code == 0, err
    labels = [p["predicted_label"] for p in _picks(scored, _last_round(scored))]
    assert len(set(labels)) >= 8  # 20 picks over 10 predicted classes


def test_label_errors_become_verify_tasks_in_a_queue(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    classes = sql("select class_names from models", scored).column("class_names")[0].as_py()
    assert _run(scored, capsys, "queue", "create", "verify", "--labels", ",".join(classes))[0] == 0
    code, out, err = _run(scored, capsys, "select", "--strategy", "label-errors", "--budget", "5",
                          "--queue", "verify")  # fmt: skip
    assert code == 0, err
    picks = _picks(scored, _last_round(scored))
    assert all(p["kind"] == "verify" and p["weak_label"] for p in picks)
    assert "5 tasks added" in out
    # Picked again: already queued, so the skip-known modifier leaves them out.
    code, out, _ = _run(
        scored, capsys, "select", "--strategy", "label-errors", "--budget", "5", "--queue", "verify"
    )
    again = {p["sample_id"] for p in _picks(scored, _last_round(scored))}
    assert code == 0 and not again & {p["sample_id"] for p in picks}


def test_blocklisted_classes_are_never_prefilled(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    """The picks the model would prefill with its top class get the best other class, and
    blocklisted classes leave the top-k; the rest keep the model's prediction."""
    code, _, err = _run(scored, capsys, "select", "--strategy", "entropy", "--budget", "40",
                        "--seed", "1", "--top-k", "3")  # fmt: skip
    assert code == 0, err
    plain = {p["sample_id"]: p for p in _picks(scored, _last_round(scored))}
    top = Counter(p["predicted_label"] for p in plain.values()).most_common(1)[0][0]
    code, _, err = _run(scored, capsys, "select", "--strategy", "entropy", "--budget", "40",
                        "--seed", "1", "--top-k", "3", "--blocklist", top)  # fmt: skip
    assert code == 0, err
    blocked = _picks(scored, _last_round(scored))
    assert blocked and all(p["predicted_label"] != top for p in blocked)
    assert all(top not in [t["label"] for t in p["top_k"]] for p in blocked)
    probs = {r["sample_id"]: r["probs"] for r in sql(
        "select sample_id, probs from predictions where model_version = 'm0001'", scored).to_pylist()}  # fmt: skip
    classes = sql("select class_names from models", scored).column("class_names")[0].as_py()
    for p in blocked:
        ranked = [classes[j] for j in np.argsort(-np.asarray(probs[p["sample_id"]]), kind="stable")]
        assert p["predicted_label"] == next(c for c in ranked if c != top)
    moved = [
        p
        for p in blocked
        if p["sample_id"] in plain and plain[p["sample_id"]]["predicted_label"] == top
    ]
    assert moved, "no pick had the blocklisted class as its top class"  # the case under test


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--strategy", "margin", "--budget", "5", "--blocklist", "zero,ten"],
            "unknown classes ['ten']",
        ),
        (["--strategy", "coin-flip", "--budget", "5"], "unknown strategy 'coin-flip'"),
        (["--strategy", "margin", "--budget", "100000"], "100000"),
        (["--strategy", "margin", "--budget", "5", "--queue", "nope"], "nope"),
        (["--strategy", "margin", "--budget", "5", "--model", "m0999"], "does not exist"),
        (["--strategy", "margin", "--budget", "5", "--target-priors", "zero=x"], "CLASS=P"),
        (["--from-cluster", "zero:1"], "No such option '--from-cluster'"),
        (["--budget", "5"], "Missing option '--strategy'"),
    ],
)
def test_bad_select_requests_write_nothing(
    scored: Settings, args: list[str], message: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    before = Lake(scored).snapshot_ids()
    code, _, err = _run(scored, capsys, "select", *args)
    assert code != 0 and err.count("\n") == 1 and message in err, err
    assert Lake(scored).snapshot_ids() == before


SCALE_OUT = """
import json, sys, ray
from ray.cluster_utils import Cluster
from flywheel.config import Settings
from flywheel.score import ScoreConfig, score

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 1})
cluster.add_node(num_cpus=2, num_gpus=1)
ray.init(address=cluster.address)
settings = Settings.from_env(root=sys.argv[1], environ={})
summary = score(settings, ScoreConfig(model="m0001", num_gpus=1, batch_size=8, mc_passes=0))
print(json.dumps({"actors": summary.actors, "scored": summary.scored, "nodes": summary.nodes}))
ray.shutdown(); cluster.shutdown()
"""


def _write_new_images(dest: Path, n: int) -> None:
    """n real digits, inverted (white on black): new bytes, so new pool samples."""
    from PIL import Image
    from sklearn.datasets import load_digits

    dest.mkdir(parents=True)
    images = load_digits().images[:n]
    for i, img in enumerate(images):
        Image.fromarray((255 - img * 255 / 16).astype(np.uint8)).save(dest / f"inv-{i}.png")


@pytest.mark.slow
def test_scoring_spreads_one_actor_per_gpu_over_nodes(tmp_path: Path, scored: Settings) -> None:
    """Simulated scale-out: a 2-node Ray cluster whose nodes declare one logical GPU each
    places one scoring actor per GPU, and both nodes score part of the new samples.
    (Runs last in this module: it adds pool samples to the shared lake.)"""
    import json

    _write_new_images(tmp_path / "new", 480)
    taxonomy = tmp_path / "t.yaml"
    taxonomy.write_text("classes: {zero: ['#zero']}\n")
    added = ingest(scored, IngestConfig(str(tmp_path / "new"), taxonomy, progress=False))
    assert added.new == 480
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCALE_OUT), str(scored.root)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["actors"] == 2
    assert result["scored"] == 480
    # 60 blocks of 8, dispatched once both actors are up (wait_for_min_actors_s): each
    # node's actor scores part of them.
    assert len(result["nodes"]) == 2 and sum(result["nodes"].values()) == 480
