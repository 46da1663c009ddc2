"""Each commit path killed (SIGKILL) after its data files are written and before the
catalog commit, then run again: the tables equal those of an undisturbed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.config import Settings
from tests import lake_writers as w
from tests.lake.test_concurrent_commits import REPO, TABLES, check_invariants, serial, state

KILLS = [
    ("export", "annotations"),
    ("export", "labels"),
    ("feedback", None),
    ("ingest", "samples"),
    ("ingest", "quarantine"),
    ("select", None),
    ("decision", None),
    ("decision", "model_events"),
    ("predictions", None),
]


@pytest.mark.slow
@pytest.mark.parametrize(("writer", "at"), KILLS)
def test_killed_before_the_catalog_commit_then_rerun(
    writer: str, at: str | None, tmp_path: Path
) -> None:
    settings = Settings.from_env(root=tmp_path / "root", environ={})
    w.prepare(writer, settings)
    before = state(settings, writer)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_"))}
    args = ["--kill-at", at] if at else ["--kill"]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.lake_writers", writer, str(settings.root), *args],
        cwd=REPO, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    if at is None or at == TABLES[writer][0]:
        assert state(settings, writer) == before  # nothing of the run reached the catalog
    w.run(writer, settings)  # the rerun
    check_invariants(settings, writer)
    assert state(settings, writer) == serial(writer, tmp_path / "undisturbed", runs=1)
