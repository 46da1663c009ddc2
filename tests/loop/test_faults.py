"""Kill the loop, and a Ray worker, at the worst moments: the final tables equal those of
an undisturbed run (compared by content, not snapshot ids).

The loop runs as ``flywheel loop`` in a child process in its own process group, joined
to this session's Ray cluster (as a loop running as a Ray job would be); SIGKILL to the
group is a crash. A simulated vendor answers over the real HTTP API from a thread, each
batch in one request, so both runs see the same batches. Training is seeded, but a
model trained after a crash need not match bit for bit on every machine (thread counts,
kernels), so the round's gate is set to pass and the compared content is what must not
depend on it: labels, answers, the models' versions and decisions, the selections and
which samples each model scored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.config import Settings
from flywheel.db import open_engine
from flywheel.lake import Lake
from flywheel.loop.state import read_rounds
from flywheel.sim import SimulatedVendor
from tests.loop.conftest import Template, cli_subprocess
from tests.queue.conftest import ApiServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]

LOOP = [
    "loop",
    "--queue",
    "digits",
    "--budget",
    "10",
    "--rounds",
    "1",
    "--epochs",
    "3",
    "--batch-size",
    "16",
    "--lr",
    "3e-3",
    "--mc-passes",
    "0",
    "--poll",
    "0.3",
    "--tolerance",
    "1.0",
    "--alpha",
    "0",
    "--max-idle",
    "300",
]
STEP_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def ray_address(ray_cluster: None) -> str:
    import ray

    return str(ray.get_runtime_context().gcs_address)


class Annotator(threading.Thread):
    """Answers every open task over HTTP, polling, until stopped."""

    def __init__(self, url: str, template: Template) -> None:
        super().__init__(daemon=True)
        self.vendor = SimulatedVendor(url, template.token, "digits", template.truth)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            try:
                self.vendor.answer_all()
            except httpx.HTTPError:
                continue

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        self.vendor.close()


class World:
    """The restored lake, its API and annotator, and the loop processes run on it."""

    def __init__(self, template: Template, log: Path) -> None:
        self.settings = template.restore()
        self.api = ApiServer(self.settings, {}, log).start()
        self.annotator = Annotator(self.api.url, template)
        self.annotator.start()
        self.output: list[str] = []

    def start(self, address: str, *extra: str) -> subprocess.Popen[str]:
        return cli_subprocess(self.settings.root, address, *LOOP, *extra)

    def wait_for(self, proc: subprocess.Popen[str], needle: str) -> None:
        """Read the loop's output until a line contains ``needle``."""
        assert proc.stdout is not None
        deadline = time.monotonic() + STEP_TIMEOUT_S
        for line in proc.stdout:
            self.output.append(line.rstrip())
            if needle in line:
                return
            assert time.monotonic() < deadline, "\n".join(self.output)
        raise AssertionError(f"the loop exited before {needle!r}:\n" + "\n".join(self.output))

    def finish(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.output.extend(line.rstrip() for line in proc.stdout)
        assert proc.wait(timeout=STEP_TIMEOUT_S) == 0, "\n".join(self.output)

    @staticmethod
    def kill(proc: subprocess.Popen[str]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)

    def close(self) -> None:
        self.annotator.stop()
        self.api.stop()


def final_tables(settings: Settings) -> dict[str, Any]:
    lake = Lake(settings)

    def rows(table: str, columns: list[str]) -> list[tuple[Any, ...]]:
        data = lake.read(table, columns=columns).to_pylist()
        return sorted(tuple(r[c] for c in columns) for r in data)

    engine = open_engine(settings.catalog_uri)
    rounds = [(r.round, r.candidate, r.decision) for r in read_rounds(engine, "default")]
    engine.dispose()
    models = rows("models", ["version", "status", "parent"])
    return {
        "labels": rows("labels", ["sample_id", "label", "kind", "method", "queue"]),
        "annotations": rows("annotations", ["sample_id", "label", "annotator", "vendor", "skip"]),
        "models": models,
        "promoted": [m[0] for m in models if m[1] == "promoted"][-1:],
        "selections": rows(
            "selections",
            ["round", "sample_id", "rank", "model_version", "kind", "queue", "predicted_label"],
        ),
        "predictions": rows("predictions", ["sample_id", "model_version"]),
        "rounds": rounds,
    }


@pytest.fixture(scope="module")
def undisturbed(loop_template: Template, ray_address: str, tmp_path_factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    world = World(loop_template, tmp_path_factory.mktemp("undisturbed") / "api.log")
    try:
        world.finish(world.start(ray_address))
        tables = final_tables(world.settings)
    finally:
        world.close()
    assert tables["promoted"] == ["m0002"] and len(tables["labels"]) == 10
    assert tables["rounds"] == [(1, "m0002", "promoted")]
    return tables


@pytest.fixture
def world(loop_template: Template, tmp_path: Path) -> Iterator[World]:
    w = World(loop_template, tmp_path / "api.log")
    yield w
    w.close()


def test_killed_during_training_resumes_to_the_same_tables(
    undisturbed: dict[str, Any], world: World, ray_address: str
) -> None:
    proc = world.start(ray_address)
    world.wait_for(proc, "epoch 1/3")
    world.kill(proc)
    assert "m0002" not in {m[0] for m in final_tables(world.settings)["models"]}
    again = world.start(ray_address)
    world.finish(again)
    assert sum("training m0002" in line for line in world.output) == 2  # trained again, once
    assert final_tables(world.settings) == undisturbed


def test_killed_during_export_resumes_to_the_same_tables(
    undisturbed: dict[str, Any], world: World, ray_address: str
) -> None:
    proc = world.start(ray_address, "--pause-at", "export")
    world.wait_for(proc, "paused at export")
    world.kill(proc)
    half = final_tables(world.settings)
    assert len(half["annotations"]) == 10 and half["labels"] == []  # between the two commits
    world.finish(world.start(ray_address))
    assert final_tables(world.settings) == undisturbed


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            cmd = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        out.append((child, cmd.decode(errors="replace")))
        todo.extend(children.get(child, []))
    return out


def _predictions(settings: Settings) -> list[tuple[Any, ...]]:
    data = Lake(settings).read("predictions").to_pylist()
    return sorted(
        (
            r["sample_id"],
            r["model_version"],
            r["predicted_label"],
            tuple(round(p, 4) for p in r["probs"]),
        )
        for r in data
    )


def test_a_scoring_worker_killed_mid_run_changes_nothing(loop_template: Template) -> None:
    from flywheel.loop.steps import ensure_scored
    from flywheel.score import ScoreConfig

    config = ScoreConfig(model="m0001", batch_size=8, mc_passes=30)

    settings = loop_template.restore()
    ensure_scored(settings, config, print)
    baseline = _predictions(settings)
    settings = loop_template.restore()
    killed: list[str] = []
    done = threading.Event()

    def kill_a_scorer() -> None:
        while not done.is_set() and not killed:
            for pid, cmd in _descendants(os.getpid()):
                if "MapWorker" in cmd and "Scorer" in cmd:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(cmd)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_scorer, daemon=True)
    killer.start()
    lines: list[str] = []
    ensure_scored(settings, config, lines.append)
    done.set()
    killer.join(timeout=10)
    assert killed, "no scoring worker was found to kill"
    assert _predictions(settings) == baseline
