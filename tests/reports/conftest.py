"""One lake for the report tests, built once per session with the real stages:

1. the digits folder (ten classes) ingested and model m0001 trained on it for 10 epochs
   (Ray Train; a well-trained model keeps real classes apart in its embedding);
2. a second digits source ingested whose taxonomy lumps #1/#one and #7/#seven into one
   class "seven-or-one" (a feed with a bad tag mapping: one weak class, two real ones);
3. the pool scored by m0001 (Ray Data) and m0002 fine-tuned from m0001;
4. an annotation round on the real queue: ``report verify-cluster`` sends one group of
   the mixed class to a queue, a vendor answers it plus label tasks, gold is added, and
   the answers are exported to the lake.

Pages are opened in a real headless Chromium (Debian's ``chromium``) over CDP.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flywheel.cli import cli, main
from flywheel.config import Settings
from flywheel.db import run_transaction, transaction
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake
from flywheel.reports.cli import COMMANDS
from flywheel.sample_data import SampleFolder, lump_classes, write_digits_folder
from flywheel.score import ScoreConfig, score
from tests.reports.browser import Browser, find_chromium

REPO = Path(__file__).resolve().parents[2]
MIXED = "seven-or-one"
TRAIN = ["--workers", "1", "--batch-size", "16", "--lr", "3e-3"]

for _command in COMMANDS:  # until flywheel/cli.py registers them
    if _command.name not in cli.commands:
        cli.add_command(_command)


def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """``flywheel --root ROOT ARGS...`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(settings.root), *args])
    return code, out.getvalue(), err.getvalue()


def truth_by_id(folder: SampleFolder) -> dict[str, str]:
    """sample_id (sha256 of the bytes) -> true class, for the files that became samples."""
    return {
        hashlib.sha256((folder.root / rel).read_bytes()).hexdigest(): label
        for rel, label in folder.truth.items()
    }


@dataclass(frozen=True)
class ReportLake:
    settings: Settings
    truth: dict[str, str]  # sample_id -> true digit name, both sources


def _mixed_source(dest: Path) -> SampleFolder:
    return lump_classes(
        write_digits_folder(dest, n=200, seed=1, faults=False), MIXED, ["one", "seven"]
    )


@pytest.fixture(scope="session")
def report_lake(tmp_path_factory, digits_folder, ray_cluster) -> ReportLake:
    base = tmp_path_factory.mktemp("report-lake")
    settings = Settings.from_env(root=base / "root", environ={})
    ingest(settings, IngestConfig(str(digits_folder.root), digits_folder.taxonomy, progress=False))
    code, _, err = run_cli(settings, "train", "--epochs", "10", *TRAIN)
    assert code == 0, err
    mixed = _mixed_source(base / "mixed")
    ingest(settings, IngestConfig(str(mixed.root), mixed.taxonomy, progress=False))
    # One actor: two would hold both CPUs of the 2-CPU test cluster and starve the read.
    score(settings, ScoreConfig(batch_size=64, mc_passes=0, concurrency=1))
    code, _, err = run_cli(settings, "train", "--from", "m0001", "--epochs", "1", *TRAIN)
    assert code == 0, err
    return ReportLake(settings, truth_by_id(digits_folder) | truth_by_id(mixed))


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    b = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def keep_screenshot(browser: Browser, tmp_path: Path, name: str) -> Path:
    """Screenshot the page into the test's tmp dir and copy it to artifacts/ (gitignored)."""
    shot = browser.screenshot(tmp_path / f"{name}.png")
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / f"reports-{name}.png")
    return shot


def lake_of(report_lake: ReportLake) -> Lake:
    return Lake(report_lake.settings)


@dataclass(frozen=True)
class Annotated:
    lake: ReportLake
    verify: tuple[int, str, str]  # `report verify-cluster` exit code, stdout, stderr
    queue: str
    verified: list[str]  # sample ids answered "yes" to "is this seven-or-one?"
    labelled: dict[str, str]  # sample id -> the vendor's label
    gold: dict[str, str]  # sample id -> gold label


def _answer_everything(
    engine, queue: str, truth: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    from flywheel.queue import answers, leasing, store

    token = store.add_vendor(engine, "acme", [queue])
    with transaction(engine) as conn:
        got = leasing.lease(conn, store.authenticate(conn, token), queue, 100)
    batch = [
        answers.Answer(task.task_id, "ann-1", "yes" if task.kind == "verify" else truth[task.sample_id],
                       False, f"key-{task.task_id}")
        for task in got.tasks
    ]  # fmt: skip
    run_transaction(
        engine,
        lambda conn: answers.submit(conn, store.authenticate(conn, token), got.lease_id, batch),
    )
    verified = [t.sample_id for t in got.tasks if t.kind == "verify"]
    labelled = {t.sample_id: truth[t.sample_id] for t in got.tasks if t.kind == "label"}
    return verified, labelled


@pytest.fixture(scope="session")
def annotated(report_lake: ReportLake) -> Annotated:
    """The annotation round of the module docstring, through the real queue database."""
    from flywheel.lake import sql
    from flywheel.queue import add_gold, create_queue, open_engine
    from flywheel.queue.export import export_labels

    settings, queue = report_lake.settings, "review"
    classes = sorted(set(report_lake.truth.values()) | {MIXED})
    engine = open_engine(settings.catalog_uri)
    try:
        create_queue(engine, queue, classes)
        verify = run_cli(settings, "report", "verify-cluster", f"{MIXED}:2", "--queue", queue,
                         "--budget", "5")  # fmt: skip
        code, _, err = run_cli(settings, "select", "--strategy", "margin", "--budget", "4",
                               "--queue", queue, "--seed", "0")  # fmt: skip
        assert code == 0, err
        threes = sql("select sample_id from samples where weak_label = 'three' order by sample_id "
                     "limit 3", settings).column("sample_id").to_pylist()  # fmt: skip
        gold = {sid: report_lake.truth[sid] for sid in threes}
        add_gold(engine, queue, [{"sample_id": s, "label": g} for s, g in gold.items()])
        verified, labelled = _answer_everything(engine, queue, report_lake.truth)
        export_labels(Lake(settings), engine)
    finally:
        engine.dispose()
    return Annotated(report_lake, verify, queue, verified, labelled, gold)
