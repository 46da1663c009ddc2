"""Every Iceberg writer against itself: the tables end as a serial run leaves them.

Two ways of meeting: a competing writer run at the worst moment (inside the other's
commit window, through the ``before_commit`` hook), and several processes started
together. After each: no row doubled, none lost, watermarks equal to the rows exported,
and the tables equal those of the same runs one after another. SQLite and PostgreSQL
catalogs, and S3 (moto's server) for the warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from flywheel.config import Settings
from flywheel.lake import Lake
from flywheel.lake.commit import HALF
from flywheel.lake.schema import TABLE_KINDS
from flywheel.queue.export import ANNOTATION_MARK, LABEL_MARK
from tests import lake_writers as w
from tests.lake_checks import assert_one_row_per_key
from tests.services import S3Info

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "export": ("annotations", "labels"),
    "feedback": ("feedback",),
    "ingest": ("samples", "quarantine"),
    "select": ("selections",),
    "decision": ("models", "model_events"),
    "predictions": ("predictions",),
}
# Columns that differ between two correct runs: clocks, run ids, paths under the root.
VOLATILE = {
    "answered_at", "decided_at", "reported_at", "ingested_at", "quarantined_at",
    "selected_at", "scored_at", "created_at", "lease_id", "ingest_run", "run_id",
    "source", "source_path", "media_uri", "detail", "metrics", "recorded_at",
}  # fmt: skip


def state(settings: Settings, writer: str) -> dict[str, list[dict[str, Any]]]:
    """The writer's tables, without volatile columns, rows sorted."""
    lake, out = Lake(settings), {}
    for name in TABLES[writer]:
        table = lake.read(name)
        table = table.select([c for c in table.column_names if c not in VOLATILE])
        out[name] = sorted(table.to_pylist(), key=repr)
    return out


def check_invariants(settings: Settings, writer: str) -> None:
    """No key twice; an export holds every answer of the queue database (ids 1..N),
    one label per decided sample, its latest decision's, and watermarks at the highest
    ids exported."""
    lake = Lake(settings)
    for name in TABLES[writer]:
        keys = lake.read(name, columns=list(TABLE_KINDS[name].key))
        rows = keys.to_pylist()
        assert len({tuple(r.values()) for r in rows}) == len(rows), f"{name}: a row doubled"
    assert_one_row_per_key(settings)
    if writer == "export":
        answers, decisions = _queue_database(settings)
        ids = lake.read("annotations", columns=["annotation_id"]).column(0).to_pylist()
        assert sorted(ids) == list(range(1, answers + 1)), "annotations: rows lost"
        latest = {sid: (lid, label) for lid, sid, label in sorted(decisions)}
        assert len(latest) < len(decisions)  # the world relabels: some rows were replaced
        labels = lake.read("labels", columns=["sample_id", "label_id", "label"]).to_pylist()
        assert {r["sample_id"]: (r["label_id"], r["label"]) for r in labels} == latest
        table = lake.table("labels")
        halves = [table.snapshot_by_id(e.snapshot_id) for e in table.history()]
        assert any(
            s is not None and s.summary is not None and s.summary.get(HALF) == "delete"
            for s in halves
        )  # an export replaced rows: a delete half, committed with its append
        assert lake.snapshot_properties("annotations")[ANNOTATION_MARK] == str(answers)
        assert lake.snapshot_properties("labels")[LABEL_MARK] == str(len(decisions))


def _queue_database(settings: Settings) -> tuple[int, list[tuple[int, str, str]]]:
    """The answers (their count) and the decisions (id, sample, label) of the queue."""
    from sqlalchemy import func, select

    from flywheel.db import open_engine
    from flywheel.db import queue_tables as t

    engine = open_engine(settings.catalog_uri)
    try:
        with engine.connect() as conn:
            answers = conn.execute(select(func.count()).select_from(t.annots)).scalar_one()
            lab = t.labels.c
            rows = conn.execute(select(lab.id, lab.sample_id, lab.label)).all()
    finally:
        engine.dispose()
    return int(answers), [(int(i), str(s), str(label)) for i, s, label in rows]


def serial(writer: str, root: Path, runs: int = 2) -> dict[str, list[dict[str, Any]]]:
    """The tables after ``runs`` runs, one after another, on a fresh SQLite world."""
    settings = Settings.from_env(root=root, environ={})
    w.prepare(writer, settings)
    for _ in range(runs):
        w.run(writer, settings)
    return state(settings, writer)


def _competing(writer: str, settings: Settings, at: str | None = None) -> list[str]:
    """A hook that runs the same writer once, complete, inside this commit's window:
    the first commit to table ``at`` (None: the first commit of all)."""
    calls: list[str] = []

    def hook(name: str) -> None:
        calls.append(name)
        if name == (at or calls[0]) and calls.count(name) == 1:
            w.run(writer, settings)

    w.run(writer, settings, hook)
    return calls


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"FLYWHEEL_CATALOG_URI": str(request.getfixturevalue("pg_url"))}


# Where the rival runs: the first commit of each writer, and for the export also its
# first commit to labels, a batch that replaces the rows of relabelled samples.
MEETINGS = [(writer, None) for writer in sorted(TABLES)] + [("export", "labels")]


@pytest.mark.parametrize(("writer", "at"), MEETINGS)
def test_a_writer_meeting_itself_mid_commit_ends_as_a_serial_run(
    writer: str, at: str | None, catalog_env: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings.from_env(root=tmp_path / "root", environ=catalog_env)
    w.prepare(writer, settings)
    calls = _competing(writer, settings, at)
    assert calls and (at is None or at in calls)  # the rival ran inside that commit window
    check_invariants(settings, writer)
    assert state(settings, writer) == serial(writer, tmp_path / "serial")


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["export", "feedback", "ingest", "decision"])
def test_processes_started_together_end_as_a_serial_run(
    writer: str, catalog_env: dict[str, str], tmp_path: Path
) -> None:
    """Four `export-labels` (or feedback reports, ingests of one source, gate
    decisions) at once: the issue's doubled rows."""
    settings = Settings.from_env(root=tmp_path / "root", environ=catalog_env)
    w.prepare(writer, settings)
    gate = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_"))}
    env.update(catalog_env)
    args = [sys.executable, "-m", "tests.lake_writers", writer, str(settings.root)]
    procs = [
        subprocess.Popen([*args, "--gate", str(gate)], cwd=REPO, env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    time.sleep(3.0)  # every process imported and waits at the gate
    gate.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    check_invariants(settings, writer)
    assert state(settings, writer) == serial(writer, tmp_path / "serial", runs=4)


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["export", "ingest", "predictions"])
def test_writers_meet_on_an_s3_warehouse(
    writer: str, s3: S3Info, s3_bucket: str, tmp_path: Path
) -> None:
    env = {"FLYWHEEL_WAREHOUSE": f"s3://{s3_bucket}/flywheel", **s3.env()}
    settings = Settings.from_env(root=tmp_path / "root", environ=env)
    settings.root.mkdir(parents=True)
    w.prepare(writer, settings)
    _competing(writer, settings)
    check_invariants(settings, writer)
    assert state(settings, writer) == serial(writer, tmp_path / "serial")


def test_feedback_media_inside_an_ingest_s_commit_window_ends_as_a_serial_run(
    catalog_env: dict[str, str], tmp_path: Path
) -> None:
    """Two different writers of ``samples`` meet: a vendor reports the media of a file
    the ingest is about to commit, inside the ingest's commit window. The ingest decides
    again from the fresh head, so the sample is stored once, as the feedback made it
    (a regression sample), exactly as the report then the ingest, one after the other,
    leave the tables."""
    from flywheel.loop.feedback import FeedbackReport, record_feedback

    def report(settings: Settings) -> None:
        image = w.folder(settings) / "img3.png"
        record_feedback(
            settings, FeedbackReport(predicted="cat", expected="dog", media_path=str(image))
        )

    settings = Settings.from_env(root=tmp_path / "root", environ=catalog_env)
    w.prepare("ingest", settings)
    reported: list[str] = []

    def hook(name: str) -> None:
        if not reported:
            reported.append(name)
            report(settings)

    w.run("ingest", settings, hook)
    assert reported  # the report landed inside the ingest's commit window
    assert_one_row_per_key(settings)
    serial_settings = Settings.from_env(root=tmp_path / "serial", environ={})
    w.prepare("ingest", serial_settings)
    report(serial_settings)
    w.run("ingest", serial_settings)
    tables = ("samples", "quarantine", "feedback")
    met = {**state(settings, "ingest"), "feedback": state(settings, "feedback")["feedback"]}
    one_by_one = {
        **state(serial_settings, "ingest"),
        "feedback": state(serial_settings, "feedback")["feedback"],
    }
    assert sorted(met) == sorted(tables)
    assert met == one_by_one
    splits = Lake(settings).read("samples", columns=["split"]).column(0).to_pylist()
    assert sorted(splits).count("regression") == 1  # the reported file, once


def test_a_rival_that_scored_some_samples_first_leaves_only_the_rest(tmp_path: Path) -> None:
    """Scoring's commit takes out of its staged files what a concurrent run of the
    same model committed meanwhile, rewriting only the files that hold such rows."""
    from flywheel.score.commit import commit_predictions

    lake = Lake(Settings.from_env(root=tmp_path / "root", environ={}))
    files = w.stage_predictions(lake, [f"s{i:02d}" for i in range(10)], per_file=4)

    def rival(name: str) -> None:
        if not lake.read("predictions").num_rows:
            lake.commit("predictions", w.prediction_rows(["s01", "s02", "s09", "x"]), {})

    commit_predictions(lake, w.VERSION, files, {}, rival)
    ids = lake.read("predictions", columns=["sample_id"]).column(0).to_pylist()
    assert sorted(ids) == sorted([f"s{i:02d}" for i in range(10)] + ["x"])


def test_pyiceberg_would_rebase_without_the_table_property(settings: Settings) -> None:
    """Why the discipline exists: a plain pyiceberg append whose base moved lands on the
    new head; our tables refuse that (``commit.retry.num-retries = 0``)."""
    from pyiceberg.exceptions import CommitFailedException

    lake = Lake(settings)
    table = lake.table("feedback")
    assert table.properties["commit.retry.num-retries"] == "0"
    lake.commit("feedback", _feedback_rows("first"), {})  # another writer moves the head
    with pytest.raises(CommitFailedException):
        table.append(_feedback_rows("stale"))  # `table` still has the old head
    assert lake.read("feedback").num_rows == 1


def _feedback_rows(fid: str) -> pa.Table:
    from datetime import UTC, datetime

    from flywheel.lake import TABLE_SCHEMAS

    row = {"feedback_id": fid, "sample_id": "s", "predicted": "a", "expected": "b",
           "source": "t", "reported_at": datetime.now(UTC)}  # fmt: skip
    return pa.Table.from_pylist([row], TABLE_SCHEMAS["feedback"])
