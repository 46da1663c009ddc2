"""Lakes for the train tests: the real digits and spoken-words folders ingested with the
real ingest, and one model trained on the digits with the real CLI on the session's Ray
cluster (shared, since a Ray Train run costs tens of seconds on a small machine)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake
from flywheel.sample_data import SampleFolder

TRAIN_FLAGS = ["--batch-size", "16", "--lr", "3e-3"]  # tiny data: small batches, more steps


@dataclass(frozen=True)
class TrainedLake:
    settings: Settings
    exit_code: int
    stdout: str
    stderr: str
    snapshots_before: dict[str, int | None]  # the lake's snapshot ids when training began


def ingest_folder(root: Path, folder: SampleFolder, **kw: object) -> Settings:
    settings = Settings.from_env(root=root, environ={})
    config = IngestConfig(source=str(folder.root), taxonomy=folder.taxonomy, progress=False, **kw)  # type: ignore[arg-type]
    ingest(settings, config)
    return settings


def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """``flywheel --root ROOT ARGS...`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(settings.root), *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def digits_lake(ray_cluster: None, digits_folder, tmp_path_factory) -> Settings:  # type: ignore[no-untyped-def]
    return ingest_folder(tmp_path_factory.mktemp("digits-lake") / "root", digits_folder)


@pytest.fixture(scope="session")
def trained_digits(digits_lake: Settings) -> TrainedLake:
    """m0001: small-cnn, 3 epochs on 2 data-parallel workers."""
    lake = Lake(digits_lake)
    before = {n: lake.current_snapshot_id(n) for n in ("samples", "labels", "models")}
    code, out, err = run_cli(digits_lake, "train", "--epochs", "3", "--workers", "2", *TRAIN_FLAGS)
    return TrainedLake(digits_lake, code, out, err, before)
