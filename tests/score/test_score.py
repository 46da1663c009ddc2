"""Score on real data: the digits' pool scored with Ray Data by a model trained with Ray
Train (the shared scored lake of tests/scored.py), and the scale-out of scoring actors
over a two-node cluster on a lake of its own."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake, sql
from flywheel.score import ScoreConfig, score
from tests.scored import MC_PASSES, build_scored, run

pytestmark = pytest.mark.usefixtures("ray_cluster")


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
    code, _, err = run(scored, capsys, "score", "--model", "m0999")
    assert code != 0 and err.count("\n") == 1 and "m0999" in err and "does not exist" in err
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


@pytest.fixture(scope="module")
def scored_apart(tmp_path_factory, digits_folder, ray_cluster) -> Settings:  # type: ignore[no-untyped-def]
    """A scored lake of this module's own: the scale-out test adds pool samples to it."""
    return build_scored(tmp_path_factory.mktemp("scored-apart") / "root", digits_folder)


@pytest.mark.slow
def test_scoring_spreads_one_actor_per_gpu_over_nodes(
    tmp_path: Path, scored_apart: Settings
) -> None:
    """Simulated scale-out: a 2-node Ray cluster whose nodes declare one logical GPU each
    places one scoring actor per GPU, and both nodes score part of the new samples.
    It adds pool samples, so it scores a lake of its own."""
    _write_new_images(tmp_path / "new", 480)
    taxonomy = tmp_path / "t.yaml"
    taxonomy.write_text("classes: {zero: ['#zero']}\n")
    added = ingest(scored_apart, IngestConfig(str(tmp_path / "new"), taxonomy, progress=False))
    assert added.new == 480
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCALE_OUT), str(scored_apart.root)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["actors"] == 2
    assert result["scored"] == 480
    # 60 blocks of 8, dispatched once both actors are up (wait_for_min_actors_s): each
    # node's actor scores part of them.
    assert len(result["nodes"]) == 2 and sum(result["nodes"].values()) == 480
