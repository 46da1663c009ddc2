"""The queue's commands through the real `flywheel` entry point, and the exactly-once
export into the lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

import flywheel.cli
from flywheel.config import Settings
from flywheel.db import open_engine, transaction
from flywheel.db import queue_tables as t
from flywheel.lake import Lake, sql
from flywheel.queue import answers, leasing, store
from flywheel.queue.cli import COMMANDS
from flywheel.queue.export import ANNOTATION_MARK, LABEL_MARK, export_labels, export_table

for _command in COMMANDS:  # until flywheel.cli registers them itself (idempotent)
    flywheel.cli.cli.add_command(_command)


def run(capsys: pytest.CaptureFixture[str], settings: Settings, *args: str) -> tuple[int, str, str]:
    code = flywheel.cli.main(["--root", str(settings.root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def answer_all(settings: Settings, token: str, queue: str, label: str = "cat") -> int:
    engine = open_engine(settings.catalog_uri)
    with transaction(engine) as conn:
        vendor = store.authenticate(conn, token)
        got = leasing.lease(conn, vendor, queue, 100)
        given = [answers.Answer(x.task_id, "ann", label, False, f"k{x.task_id}") for x in got.tasks]
        answers.submit(conn, vendor, got.lease_id, given)
    return len(given)


def test_queue_vendor_and_export_commands(
    capsys: pytest.CaptureFixture[str], settings: Settings, tmp_path: Path
) -> None:
    instructions = tmp_path / "how.md"
    instructions.write_text("Pick the animal you see.")
    code, out, _ = run(capsys, settings, "queue", "create", "pets", "--labels", "cat,dog",
                       "--consensus", "1", "--instructions", str(instructions))  # fmt: skip
    assert (
        code == 0 and out == "created queue pets: 2 labels, consensus 1, gold rate 0, lease 600s\n"
    )
    code, _, err = run(capsys, settings, "queue", "create", "pets", "--labels", "cat,dog")
    assert code == 2 and err == "flywheel: error: queue 'pets' already exists; pick another name\n"
    code, _, err = run(capsys, settings, "queue", "create", "x", "--labels", "cat")
    assert code == 2 and "at least 2 distinct labels" in err

    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps({"sample_id": f"s{i}", "prefill": {"label": "cat"}})
                               for i in range(3)))  # fmt: skip
    code, out, _ = run(capsys, settings, "queue", "enqueue", "pets", str(items))
    assert out == "queued 3 tasks in pets (0 already queued or labelled, 0 gold)\n"
    gold = tmp_path / "gold.csv"
    gold.write_text("sample_id,label\ng1,dog\n")
    code, out, _ = run(capsys, settings, "queue", "add-gold", "pets", str(gold))
    assert out == "added 1 gold answers to pets (0 already gold)\n"

    code, out, err = run(capsys, settings, "vendor", "add", "acme", "--queues", "pets")
    token = out.strip()
    assert code == 0 and len(out.splitlines()) == 1 and len(token) >= 40
    assert "shown only once" in err
    code, _, err = run(capsys, settings, "vendor", "add", "bad", "--queues", "nope")
    assert code == 2 and "no queue named 'nope'" in err

    assert answer_all(settings, token, "pets") == 3
    code, out, _ = run(capsys, settings, "queue", "stats")
    assert (
        out.splitlines()[0] == "pets: open 0, leased 0, expired 0, done 3, labels 3, agreement 1.00"
    )
    assert out.splitlines()[-1] == "1 queue(s)"

    code, out, _ = run(capsys, settings, "export-labels")
    assert out == "exported 3 annotations and 4 labels (watermarks: annotation 3, label 4)\n"
    code, out, _ = run(capsys, settings, "export-labels")
    assert out == "exported 0 annotations and 0 labels (watermarks: annotation 3, label 4)\n"
    labels = sql("select sample_id, label, method from labels order by sample_id", settings)
    assert labels.to_pylist()[0] == {"sample_id": "g1", "label": "dog", "method": "gold"}
    assert labels.num_rows == 4

    code, out, _ = run(capsys, settings, "vendor", "revoke", "acme")
    assert out == "revoked vendor acme (0 leased tasks back in their queues)\n"
    code, _, err = run(capsys, settings, "vendor", "revoke", "acme")
    assert code == 2 and "no active vendor named 'acme'" in err


def test_export_is_exactly_once_across_a_crash(queue_settings: Settings) -> None:
    settings = queue_settings
    engine = open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", ["cat", "dog"])
    from flywheel.queue.tasks import enqueue

    enqueue(engine, "q", [{"sample_id": f"s{i}"} for i in range(5)])
    token = store.add_vendor(engine, "v", ["q"])
    answer_all(settings, token, "q")
    lake = Lake(settings)
    # Crash after the annotations commit, before the labels one.
    assert export_table(lake, engine, "annotations", batch_rows=2) == (5, 5)  # 3 commits
    enqueue(engine, "q", [{"sample_id": "late"}])
    answer_all(settings, token, "q", label="dog")
    result = export_labels(lake, engine, batch_rows=4)
    assert (result.annotations, result.labels) == (1, 6)
    assert export_labels(lake, engine) == result.__class__(0, 0, 6, 6)
    ann = lake.read("annotations").column("annotation_id").to_pylist()
    lab = lake.read("labels").column("label_id").to_pylist()
    assert sorted(ann) == [1, 2, 3, 4, 5, 6] and sorted(lab) == [1, 2, 3, 4, 5, 6]
    assert lake.snapshot_properties("annotations")[ANNOTATION_MARK] == "6"
    assert lake.snapshot_properties("labels")[LABEL_MARK] == "6"
    with transaction(engine) as conn:
        votes = conn.execute(
            select(t.labels.c.votes).where(t.labels.c.sample_id == "late")
        ).scalar_one()
    assert votes == {"dog": 1}
    row = lake.read("labels", row_filter="sample_id == 'late'").to_pylist()[0]
    assert (row["label"], row["method"], row["votes"]) == ("dog", "single", [("dog", 1)])


def test_labels_decided_during_an_export_wait_for_their_answers(queue_settings: Settings) -> None:
    """An answer that lands between an export's answers commit and its labels commit
    leaves its label for the next export: the lake never holds a label without the
    answers that decided it."""
    from flywheel.queue.export import committed_label_bound
    from flywheel.queue.tasks import enqueue

    settings = queue_settings
    engine = open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", ["cat", "dog"])
    enqueue(engine, "q", [{"sample_id": f"s{i}"} for i in range(3)])
    token = store.add_vendor(engine, "v", ["q"])
    lake = Lake(settings)
    bound = committed_label_bound(engine)  # the export starts: nothing decided yet
    assert bound == 0
    assert export_table(lake, engine, "annotations", 100) == (0, 0)
    answer_all(settings, token, "q")  # the vendor answers mid-export
    assert export_table(lake, engine, "labels", 100, upto=bound) == (0, 0)
    assert committed_label_bound(engine) == 3
    result = export_labels(lake, engine)
    assert (result.annotations, result.labels) == (3, 3)
    answered = set(lake.read("annotations").column("sample_id").to_pylist())
    assert set(lake.read("labels").column("sample_id").to_pylist()) <= answered


def test_queue_stats_prints_annotator_names_safely(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.root.mkdir(parents=True)
    engine = open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", ["cat", "dog"])
    from flywheel.queue.tasks import enqueue

    enqueue(engine, "q", [{"sample_id": "s1"}])
    token = store.add_vendor(engine, "v", ["q"])
    forged = "ann\n  vendor boss: gold 99/99 (1.00)\x1b[31m\u202e"
    with transaction(engine) as conn:  # as an import would store it, past the API
        vendor = store.authenticate(conn, token)
        got = leasing.lease(conn, vendor, "q", 1)
        given = [answers.Answer(got.tasks[0].task_id, forged, "cat", False, "k1")]
        answers.submit(conn, vendor, got.lease_id, given)
    code, out, err = run(capsys, settings, "queue", "stats", "q")
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out, out
    assert not any(line.startswith("  vendor boss") for line in out.splitlines())
    assert "ann\\n  vendor boss" in out
