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
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake
from flywheel.loop.registry import record_decision
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


@pytest.mark.slow
@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_a_gate_decision_inside_a_training_s_commit_window_ends_as_a_serial_run(
    catalog: str, ray_cluster: None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two different writers of ``models`` meet: a gate promotes m0002 while a third
    training is between its data files and its catalog commit. The training decides
    again from the fresh head, so the table ends as the decision then the training, one
    after the other, would leave it: m0003 a candidate beside the newly promoted m0002,
    and the decision kept (not overwritten by a rebased append)."""
    environ = (
        {} if catalog == "sqlite" else {"FLYWHEEL_CATALOG_URI": request.getfixturevalue("pg_url")}
    )
    settings = Settings.from_env(root=tmp_path / "root", environ=environ)
    folder = write_digits_folder(tmp_path / "digits", n=60, seed=2, faults=False)
    ingest(
        settings, IngestConfig(source=str(folder.root), taxonomy=folder.taxonomy, progress=False)
    )
    assert train(settings, CONFIG).version == "m0001"
    second = train(settings, CONFIG)
    assert (second.version, second.status) == ("m0002", "candidate")
    decided: list[str] = []

    def hook(table: str) -> None:
        if table == "models" and not decided:
            lake = Lake(settings)
            row = lake.read("models", row_filter="version == 'm0002'").to_pylist()[0]
            record_decision(lake, row, "promoted", "passed every gate (test)", {})
            decided.append("m0002")

    third = train(settings, CONFIG, before_commit=hook)
    assert decided == ["m0002"]  # the decision ran inside the training's commit window
    assert (third.version, third.status) == ("m0003", "candidate")
    assert "m0002 stays promoted" in third.reason  # decided from the head after the gate
    assert _models(settings) == {
        "m0001": ("promoted", None),
        "m0002": ("promoted", None),
        "m0003": ("candidate", None),
    }
    assert {("m0002", "promoted"), ("m0003", "candidate")} <= _events(settings)
