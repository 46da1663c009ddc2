"""State tables read as the current state, one row per key; the audit trail of models
is ``model_events``; a lake written before (a row per status change in ``models``, a row
per decision in ``labels``) opens with the new layout."""

from __future__ import annotations

import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa

import flywheel
from flywheel.config import S3Settings, Settings
from flywheel.db import open_engine, transaction
from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.lake.schema import TABLE_KINDS
from flywheel.queue.export import LABEL_MARK
from tests import lake_writers as w
from tests.services import S3Info

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _model(version: str, status: str, minute: int) -> dict[str, Any]:
    row = w.candidate_row(version, status)
    row.update(reason=f"{status} at {minute}", created_at=T0 + timedelta(minutes=minute))
    return row


OLD_MODELS = [  # what the loop appended before state tables: a row per status change
    _model("m0001", "promoted", 1),
    _model("m0002", "candidate", 2),
    _model("m0002", "promoted", 3),
    _model("m0003", "candidate", 4),
    _model("m0003", "rejected", 5),
]


def _label(label_id: int, sample_id: str, label: str) -> dict[str, Any]:
    return {
        "label_id": label_id, "sample_id": sample_id, "label": label, "kind": "label",
        "method": "single", "queue": "q", "votes": [(label, 1)], "agreement": 1.0,
        "confidence": 1.0, "n_answers": 1, "decided_at": T0 + timedelta(minutes=label_id),
    }  # fmt: skip


OLD_LABELS = [_label(1, "s1", "cat"), _label(2, "s2", "dog"), _label(3, "s1", "dog")]


def write_old_lake(settings: Settings) -> None:
    """The old layout, written as the code before state tables wrote it: plain pyiceberg
    appends to tables created without our properties (``Lake`` would migrate them)."""
    from pyiceberg.catalog.sql import SqlCatalog

    settings.root.mkdir(parents=True, exist_ok=True)
    props = {"uri": settings.catalog_uri, "warehouse": settings.warehouse}
    catalog = SqlCatalog("flywheel", **props)
    catalog.create_namespace_if_not_exists(settings.namespace)
    models = catalog.create_table((settings.namespace, "models"), TABLE_SCHEMAS["models"])
    for row in OLD_MODELS:  # one commit per row, as train and the gates made them
        models.append(pa.Table.from_pylist([row], TABLE_SCHEMAS["models"]))
    labels = catalog.create_table((settings.namespace, "labels"), TABLE_SCHEMAS["labels"])
    labels.append(
        pa.Table.from_pylist(OLD_LABELS, TABLE_SCHEMAS["labels"]),
        snapshot_properties={LABEL_MARK: "3"},
    )


def test_an_old_lake_opens_with_state_tables_and_model_events(settings: Settings) -> None:
    write_old_lake(settings)
    lake = Lake(settings)
    models = {r["version"]: r for r in lake.read("models").to_pylist()}
    assert {v: (r["status"], r["reason"]) for v, r in models.items()} == {
        "m0001": ("promoted", "promoted at 1"),
        "m0002": ("promoted", "promoted at 3"),
        "m0003": ("rejected", "rejected at 5"),
    }
    events = lake.read("model_events").to_pylist()
    assert sorted((e["version"], e["status"], e["reason"]) for e in events) == sorted(
        (r["version"], r["status"], r["reason"]) for r in OLD_MODELS
    )
    labels = {r["sample_id"]: r for r in lake.read("labels").to_pylist()}
    assert {s: (r["label"], r["label_id"]) for s, r in labels.items()} == {
        "s1": ("dog", 3),
        "s2": ("dog", 2),
    }
    assert lake.snapshot_properties("labels")[LABEL_MARK] == "3"  # the export goes on from 3
    one_row = "select count(*) = count(distinct {key}) as ok from {table}"
    for table, key in (("models", "version"), ("labels", "sample_id")):
        assert flywheel.sql(one_row.format(key=key, table=table), settings)["ok"][0].as_py()
    # The history is still there, by time travel to the snapshots the old code made.
    first = lake.table("models").snapshots()[0].snapshot_id
    assert lake.read("models", snapshot_id=first).num_rows == 1


def test_opening_an_old_lake_twice_changes_nothing_more(settings: Settings) -> None:
    write_old_lake(settings)
    Lake(settings).read("models"), Lake(settings).read("labels")
    snaps = Lake(settings).snapshot_ids()
    Lake(settings).read("models"), Lake(settings).read("labels")
    assert Lake(settings).snapshot_ids() == snaps


def test_a_gate_decision_overwrites_the_row_and_records_an_event(settings: Settings) -> None:
    from flywheel.loop.registry import record_decision
    from flywheel.train.registry import Models

    lake = Lake(settings)
    lake.commit("models", pa.Table.from_pylist([w.candidate_row()], TABLE_SCHEMAS["models"]), {})
    assert record_decision(lake, w.candidate_row(), "rejected", "worse on the gallery", {"g": 1})
    assert not record_decision(lake, w.candidate_row(), "promoted", "late", {})
    rows = lake.read("models").to_pylist()
    assert [(r["version"], r["status"]) for r in rows] == [("m0001", "rejected")]
    history = Models.read(lake)
    trail = [(e["status"], e["reason"]) for e in history.events(lake)]
    assert trail == [("candidate", "trained"), ("rejected", "worse on the gallery")]
    gate = lake.read("model_events", row_filter="status == 'rejected'")["gate"][0].as_py()
    assert gate == '{"g": 1}'


def test_every_table_has_a_kind_and_a_key() -> None:
    assert set(TABLE_KINDS) == set(TABLE_SCHEMAS)
    state = {n for n, k in TABLE_KINDS.items() if k.kind == "state"}
    assert state == {"samples", "labels", "models", "predictions"}


def _two_decisions_for_one_sample(settings: Settings) -> Any:
    """s1 labelled cat, then verified as dog (a verify task answered yes); s2 once."""
    from flywheel.queue import answers, leasing, store
    from flywheel.queue.tasks import enqueue

    settings.root.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", ["cat", "dog"])
    token = store.add_vendor(engine, "v", ["q"])
    enqueue(engine, "q", [{"sample_id": "s1"}, {"sample_id": "s2"}])
    rounds = [("cat", None), ("yes", {"sample_id": "s1", "kind": "verify",
                                      "prefill": {"label": "dog"}})]  # fmt: skip
    for answer, task in rounds:
        if task is not None:
            enqueue(engine, "q", [task])
        with transaction(engine) as conn:
            vendor = store.authenticate(conn, token)
            got = leasing.lease(conn, vendor, "q", 10)
            given = [
                answers.Answer(x.task_id, "ann", answer, False, f"k{x.task_id}") for x in got.tasks
            ]
            answers.submit(conn, vendor, got.lease_id, given)
    return engine


def test_a_sample_decided_again_has_one_label_row(settings: Settings) -> None:
    """The export replaces a sample's label in the commit that brings the new one,
    whether both decisions come in one batch or in two."""
    from flywheel.queue.export import export_labels

    engine = _two_decisions_for_one_sample(settings)
    for batch_rows in (1, 100):
        root = settings.root.parent / f"lake-{batch_rows}"
        lake = Lake(Settings.from_env(root=root, environ={}))
        result = export_labels(lake, engine, batch_rows=batch_rows)
        assert (result.labels, result.label_mark) == (3, 3)
        rows = {
            r["sample_id"]: (r["label"], r["label_id"]) for r in lake.read("labels").to_pylist()
        }
        assert rows == {"s1": ("dog", 3), "s2": ("cat", 2)}  # s1's label 1 replaced
        assert export_labels(lake, engine).labels == 0
    engine.dispose()


def test_sql_as_of_a_time_reads_each_table_as_it_was_then(settings: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    """s1 labelled cat, exported, then decided again as dog and exported: a time before,
    after, and exactly at the delete half of the replacing commit, through the CLI."""
    from flywheel.cli import main
    from flywheel.queue.export import export_labels

    engine = _two_decisions_for_one_sample(settings)
    lake = Lake(settings)
    lake.table("samples")  # a lake, as `flywheel sql` requires
    export_labels(lake, engine, batch_rows=2)  # labels 1-2, then 3 replaces s1's
    engine.dispose()
    table = lake.table("labels")
    log = [(e.snapshot_id, e.timestamp_ms) for e in table.history()]
    halves = [
        table.snapshot_by_id(sid).summary.additional_properties.get("flywheel.half")  # type: ignore[union-attr]
        for sid, _ in log
    ]
    assert halves == [None, "delete", None]  # append; delete + append in one commit
    (_, first_ms), (half, half_ms), (_, second_ms) = log
    # What the marker guards against: at its half, s1 has no label at all.
    assert lake.read("labels", ["sample_id"], snapshot_id=half).column(0).to_pylist() == ["s2"]

    def label_of_s1(as_of: str) -> list[str]:
        query = "select label from labels where sample_id = 's1'"
        args = ["--root", str(settings.root), "sql", "--as-of", as_of, query, "--format", "json"]
        assert main(args) == 0
        out = capsys.readouterr()
        assert out.err.startswith("as of "), out.err
        return [r["label"] for r in json.loads(out.out)]

    def iso(ms: int) -> str:
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()

    assert label_of_s1(iso(first_ms)) == ["cat"]
    assert label_of_s1(iso(half_ms)) == (["dog"] if second_ms == half_ms else ["cat"])
    assert label_of_s1(iso(second_ms)) == ["dog"]
    assert label_of_s1(datetime.now(UTC).isoformat().replace("+00:00", "Z")) == ["dog"]
    assert label_of_s1("2000-01-01") == []  # before any snapshot: the table reads empty
    assert Lake(settings).snapshot_ids_at(datetime(2000, 1, 1, tzinfo=UTC))["labels"] is None
    assert Lake(settings).snapshot_ids_at(datetime.now(UTC))["labels"] == log[-1][0]

    assert main(["--root", str(settings.root), "sql", "--as-of", "yesterday", "select 1"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'yesterday'" in err and "2026-12-07T10:00:00Z" in err


# A lake the code before state tables wrote (tests/fixtures/lake_v0/make_lake.py ran that
# commit's CLI and queue functions): its SQLite catalog and queue database, and its bucket.
LAKE_V0 = Path(__file__).resolve().parents[1] / "fixtures" / "lake_v0"


def _restore_lake_v0(dest: Path, s3: S3Info) -> Settings:
    """Unpack the old lake into ``dest`` and its bucket into the moto server (emptied
    first: the bucket name is in the lake's metadata, so every test uses the same one)."""
    made_by = json.loads((LAKE_V0 / "made_by.json").read_text())
    bucket = made_by["warehouse"].removeprefix("s3://").split("/")[0]
    with tarfile.open(LAKE_V0 / "lake.tar.gz") as tar:
        tar.extractall(dest, filter="data")
    client = boto3.client("s3", **s3.client_kwargs())
    if bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
    else:
        client.create_bucket(Bucket=bucket)
    files = sorted(p for p in (dest / "bucket").rglob("*") if p.is_file())
    for path in files:
        client.upload_file(str(path), bucket, path.relative_to(dest / "bucket").as_posix())
    assert len(files) == made_by["objects"]
    for key in made_by["empty_markers"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"")
    s3_settings = S3Settings(
        endpoint=s3.endpoint, region=s3.region,
        access_key_id=s3.access_key_id, secret_access_key=s3.secret_access_key,
    )  # fmt: skip
    return Settings(
        root=dest, catalog_uri=f"sqlite:///{dest / 'catalog.db'}",
        warehouse=made_by["warehouse"], s3=s3_settings,
    )  # fmt: skip


def _raw_rows(settings: Settings, name: str) -> list[dict[str, Any]]:
    """A table's rows as plain pyiceberg reads them, without ``Lake`` (which migrates)."""
    from pyiceberg.catalog.sql import SqlCatalog

    from flywheel.lake.lake import _catalog_properties

    catalog = SqlCatalog("flywheel", **_catalog_properties(settings))
    rows: list[dict[str, Any]] = (
        catalog.load_table((settings.namespace, name)).scan().to_arrow().to_pylist()
    )
    return rows


def test_a_lake_the_old_code_wrote_opens_with_the_new_layout(tmp_path: Path, s3: S3Info) -> None:
    settings = _restore_lake_v0(tmp_path / "lake", s3)
    old_models = _raw_rows(settings, "models")
    old_labels = _raw_rows(settings, "labels")
    # What the old code left: a row per status change, a row per decision.
    assert len(old_models) > len({r["version"] for r in old_models})
    assert len(old_labels) > len({r["sample_id"] for r in old_labels})

    lake = Lake(settings)
    latest = {}
    for row in sorted(old_models, key=lambda r: r["created_at"]):
        latest[row["version"]] = (row["status"], row["reason"])
    models = lake.read("models").to_pylist()
    assert {r["version"]: (r["status"], r["reason"]) for r in models} == latest
    assert len(models) == len(latest)
    events = {(e["version"], e["status"]) for e in lake.read("model_events").to_pylist()}
    assert events == {(r["version"], r["status"]) for r in old_models}
    last_label = {}
    for row in sorted(old_labels, key=lambda r: r["label_id"]):
        last_label[row["sample_id"]] = row["label"]
    labels = lake.read("labels").to_pylist()
    assert {r["sample_id"]: r["label"] for r in labels} == last_label
    assert len(labels) == len(last_label)

    # The same answers through the product's verbs: SQL, the registry, the queues.
    from click.testing import CliRunner

    from flywheel.cli import cli

    env = {**s3.env(), "FLYWHEEL_CATALOG_URI": settings.catalog_uri,
           "FLYWHEEL_WAREHOUSE": settings.warehouse, "FLYWHEEL_ROOT": str(settings.root)}  # fmt: skip
    runner = CliRunner()
    for args in (["models"], ["queue", "stats", "q"], ["status"],
                 ["sql", "select count(*) = count(distinct version) as ok from models"]):  # fmt: skip
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, (args, result.output)
    assert "true" in result.stdout.lower()
    # Nothing is left to export (the watermark came along) and the history is still there.
    export = runner.invoke(cli, ["export-labels"], env=env)
    assert export.exit_code == 0, export.output
    assert Lake(settings).read("labels").num_rows == len(last_label)
    first = lake.table("models").snapshots()[0].snapshot_id
    assert lake.read("models", snapshot_id=first).num_rows == 1
