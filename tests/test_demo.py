"""The README's main job, end to end on a small setting: real digits with noisy
hashtags, a first model, one round through the real HTTP API with a bad annotator,
export, retrain, gate, and the HTML report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.lake import sql

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.demo", "--root", str(root), "--rounds", "1",
         "--budget", "40", "--epochs", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "round 1:" in out and "== label quality" in out
    quality = out.split("== label quality")[1]
    for name in ("ann-ada", "ann-bo", "ann-cy", "ann-dee", "ann-eve"):
        assert f"{name}" in quality and "accuracy on gold" in quality
    report = root / "demo-report" / "index.html"
    assert report.is_file() and (root / "demo-report" / "accuracy.png").is_file()
    settings = Settings.from_env(root=root, environ={})
    versions = sql("select distinct version from models order by 1", settings).column("version")
    assert versions.to_pylist() == ["m0001", "m0002"]
    labels = sql("select count(*) as n from labels", settings).column("n")[0].as_py()
    assert labels >= 40
    # A second run on the same root refuses to overwrite a lake it did not start over.
    again = subprocess.run([sys.executable, "-m", "jobs.demo", "--root", str(root)], cwd=REPO,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 2 and "add --fresh" in again.stderr
