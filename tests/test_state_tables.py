"""State tables read as the current state, one row per key; the audit trail of models
is ``model_events``; a lake written before (a row per status change in ``models``, a row
per decision in ``labels``) opens with the new layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

import flywheel
from flywheel.config import Settings
from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.lake.schema import TABLE_KINDS
from flywheel.queue.export import LABEL_MARK
from tests import lake_writers as w

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
    from flywheel.loop.registry import ModelHistory, record_decision

    lake = Lake(settings)
    lake.commit("models", pa.Table.from_pylist([w.candidate_row()], TABLE_SCHEMAS["models"]), {})
    assert record_decision(lake, w.candidate_row(), "rejected", "worse on the gallery", {"g": 1})
    assert not record_decision(lake, w.candidate_row(), "promoted", "late", {})
    rows = lake.read("models").to_pylist()
    assert [(r["version"], r["status"]) for r in rows] == [("m0001", "rejected")]
    history = ModelHistory.read(lake)
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
    engine = store.open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", ["cat", "dog"])
    token = store.add_vendor(engine, "v", ["q"])
    enqueue(engine, "q", [{"sample_id": "s1"}, {"sample_id": "s2"}])
    rounds = [("cat", None), ("yes", {"sample_id": "s1", "kind": "verify",
                                      "prefill": {"label": "dog"}})]  # fmt: skip
    for answer, task in rounds:
        if task is not None:
            enqueue(engine, "q", [task])
        with store.transaction(engine) as conn:
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
