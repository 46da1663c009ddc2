"""A scored lake, shared by tests/score and tests/selection: the digits ingested, model
m0001 trained on their weak labels with Ray Train, the pool scored with Ray Data."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.sample_data import DigitsFolder
from flywheel.score import ScoreConfig, score

MC_PASSES = 8


def build_scored(root: Path, digits: DigitsFolder) -> Settings:
    """A lake under ``root`` with the digits, m0001 trained for 3 epochs, the pool scored
    with ``MC_PASSES`` dropout passes."""
    settings = Settings.from_env(root=root, environ={})
    ingest(settings, IngestConfig(str(digits.root), digits.taxonomy, progress=False))
    code = main(["--root", str(root), "train", "--epochs", "3", "--workers", "1",
                 "--batch-size", "16", "--lr", "3e-3"])  # fmt: skip
    assert code == 0
    summary = score(settings, ScoreConfig(batch_size=64, mc_passes=MC_PASSES))
    assert summary.scored == summary.pool > 0
    return settings


def run(settings: Settings, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``flywheel --root ROOT ARGS...`` in process: exit code, stdout, stderr."""
    capsys.readouterr()
    code = main(["--root", str(settings.root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err
