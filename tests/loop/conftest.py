"""Fixtures of the loop tests: one real starting lake, restored in place per test.

Building it costs a Ray Train run, so it is built once per session: the digits ingested
with their (noisy) weak labels, m0001 trained on them, a queue ``digits`` and a vendor.
Iceberg metadata holds absolute paths, so the lake is not copied elsewhere: it is saved
beside its root and copied back *to the same path* by ``restore`` (one test at a time).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flywheel.cli import cli
from flywheel.config import Settings
from flywheel.loop.cli import COMMANDS
from tests.queue.conftest import ApiServer

REPO = Path(__file__).resolve().parents[2]
TRAIN = {"batch_size": 16, "lr": 3e-3}

# Until flywheel/cli.py registers the loop's commands, register them for the tests.
for _command in COMMANDS:
    if _command.name not in cli.commands:
        cli.add_command(_command)


@dataclass(frozen=True)
class Template:
    root: Path  # where every test's lake lives
    saved: Path  # the pristine copy
    truth: dict[str, str]  # sample_id -> true class
    classes: list[str]
    token: str  # bearer token of vendor "sim" on queue "digits"

    @property
    def settings(self) -> Settings:
        return Settings.from_env(root=self.root, environ={})

    def restore(self) -> Settings:
        """Put the starting lake back at ``root``; close engines on the old one first."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.copytree(self.saved, self.root)
        return self.settings


@pytest.fixture(scope="session")
def loop_template(tmp_path_factory, digits_folder, ray_cluster) -> Template:  # type: ignore[no-untyped-def]
    from flywheel.ingest import IngestConfig, ingest
    from flywheel.queue import add_vendor, create_queue, open_engine
    from flywheel.train import TrainConfig, train

    base = tmp_path_factory.mktemp("loop")
    settings = Settings.from_env(root=base / "root", environ={})
    ingest(settings, IngestConfig(str(digits_folder.root), digits_folder.taxonomy, progress=False))
    summary = train(settings, TrainConfig(epochs=2, arch="tiny-cnn", **TRAIN))  # type: ignore[arg-type]
    assert (summary.version, summary.status) == ("m0001", "promoted")
    truth = {
        hashlib.sha256((digits_folder.root / rel).read_bytes()).hexdigest(): label
        for rel, label in digits_folder.truth.items()
    }
    classes = sorted(set(truth.values()))
    engine = open_engine(settings.catalog_uri)
    create_queue(engine, "digits", classes)
    token = add_vendor(engine, "sim", ["digits"])
    engine.dispose()
    shutil.copytree(settings.root, base / "saved")
    return Template(settings.root, base / "saved", truth, classes, token)


@pytest.fixture
def api(loop_template: Template, tmp_path: Path) -> Iterator[ApiServer]:
    """The vendor API on the template's root (start it after ``restore``)."""
    server = ApiServer(loop_template.settings, {}, tmp_path / "api.log")
    yield server
    server.stop()


def cli_subprocess(
    root: Path, ray_address: str | None, *args: str, **popen: Any
) -> subprocess.Popen[str]:
    """``flywheel --root ROOT ARGS...`` in a child process, in its own process group
    (so a test can SIGKILL all of it), unbuffered so progress lines arrive at once."""
    # RAY_AUTH_MODE stays: a driver joining this session's cluster sends its token.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")}
    env.pop("RAY_ADDRESS", None)
    env["PYTHONUNBUFFERED"] = "1"
    # A script's own folder, not the cwd, heads sys.path: name the repo under test, or
    # the child imports whichever flywheel the environment has installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    flags = ["--root", str(root)] + (["--ray-address", ray_address] if ray_address else [])
    return subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "loop" / "run_cli.py"), *flags, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **popen,
    )
