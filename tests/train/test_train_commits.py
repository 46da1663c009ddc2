"""A model version is registered exactly once when two trainings meet, and a training
killed before its catalog commit leaves nothing behind: the ``models`` table ends as the
same runs one after the other leave it (issue 10's commit discipline, for train)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.lake import Lake
from flywheel.sample_data import write_digits_folder
from flywheel.train.checkpoint import load_checkpoint
from flywheel.train.run import TrainConfig, TrainSummary, train
from tests.train.conftest import ingest_folder

REPO = Path(__file__).resolve().parents[2]
CONFIG = TrainConfig(epochs=1, workers=1, batch_size=16)


@pytest.fixture
def small_lake(ray_cluster: None, tmp_path: Path) -> Settings:
    folder = write_digits_folder(tmp_path / "digits", n=60, seed=2, faults=False)
    return ingest_folder(tmp_path / "root", folder)


def _models(settings: Settings) -> dict[str, tuple[str, str | None]]:
    rows = Lake(settings).read("models").to_pylist()
    assert len(rows) == len({r["version"] for r in rows}), "a version registered twice"
    return {r["version"]: (r["status"], r["parent"]) for r in rows}


def _events(settings: Settings) -> set[tuple[str, str]]:
    return {(e["version"], e["status"]) for e in Lake(settings).read("model_events").to_pylist()}


def test_a_training_another_registered_ahead_of_takes_the_next_version(
    small_lake: Settings,
) -> None:
    """Run B finishes and registers inside run A's commit window: A's commit refuses to
    rebase, decides again from the fresh head and registers the next version, as a
    candidate (B, the first model, is promoted), its checkpoint written again under it."""
    inner: list[TrainSummary] = []

    def hook(table: str) -> None:
        if table == "models" and not inner:
            inner.append(train(small_lake, CONFIG))

    outer = train(small_lake, CONFIG, before_commit=hook)
    assert (inner[0].version, inner[0].status) == ("m0001", "promoted")
    assert (outer.version, outer.status) == ("m0002", "candidate")
    assert "m0001 stays promoted" in outer.reason
    assert _models(small_lake) == {"m0001": ("promoted", None), "m0002": ("candidate", None)}
    assert _events(small_lake) == {("m0001", "promoted"), ("m0002", "candidate")}
    row = Lake(small_lake).read("models", row_filter="version == 'm0002'").to_pylist()[0]
    assert row["checkpoint_uri"] == outer.checkpoint_uri
    assert "/models/m0002/" in outer.checkpoint_uri
    assert load_checkpoint(outer.checkpoint_uri, small_lake).model_version == "m0002"
    assert load_checkpoint(inner[0].checkpoint_uri, small_lake).model_version == "m0001"


KILLED_TRAIN = """
import sys
from pathlib import Path
from flywheel.config import Settings
from flywheel.train.run import TrainConfig, train
from tests.lake_writers import killer
settings = Settings.from_env(root=Path(sys.argv[1]), environ={})
train(settings, TrainConfig(epochs=1, workers=1, batch_size=16), before_commit=killer("models"))
"""


@pytest.mark.slow
def test_a_training_killed_before_its_commit_leaves_nothing_and_reruns_cleanly(
    small_lake: Settings,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_", "RAY_"))}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_TRAIN, str(small_lake.root)],
        cwd=REPO, env=env, capture_output=True, timeout=400,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert _models(small_lake) == {} and _events(small_lake) == set()
    rerun = train(small_lake, CONFIG)
    assert (rerun.version, rerun.status) == ("m0001", "promoted")  # as an undisturbed run
    assert _models(small_lake) == {"m0001": ("promoted", None)}
    assert _events(small_lake) == {("m0001", "promoted")}
