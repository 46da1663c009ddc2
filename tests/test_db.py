"""flywheel.db: one ``open_engine`` creates the queue's and the loop's tables with one
``create_all`` on a real SQLite file and a real PostgreSQL, and both owners work on them
through their public functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from flywheel.db import metadata, open_engine, transaction
from flywheel.loop.state import LoopStore, read_rounds, read_state
from flywheel.queue import add_vendor, create_queue, enqueue
from flywheel.queue.answers import Answer, submit
from flywheel.queue.leasing import lease
from flywheel.queue.store import authenticate
from flywheel.queue.tasks import open_tasks, queued_sample_ids

QUEUE_TABLES = {
    "aq_queues",
    "aq_vendors",
    "aq_vendor_annotators",
    "aq_vendor_queues",
    "aq_tasks",
    "aq_leases",
    "aq_lease_tasks",
    "aq_annotations",
    "aq_gold",
    "aq_labels",
    "aq_annotator_quality",
}
LOOP_TABLES = {"fl_loop_state", "fl_loop_rounds", "fl_loop_events"}


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'catalog.db'}"  # its folder is made
    return str(request.getfixturevalue("pg_url"))


def test_one_metadata_holds_both_owners_tables() -> None:
    assert set(metadata.tables) == QUEUE_TABLES | LOOP_TABLES


def test_open_engine_creates_every_table_with_conventional_names(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        found = inspect(engine)
        assert set(found.get_table_names()) >= QUEUE_TABLES | LOOP_TABLES
        # Columns as the metadata declares them (the queue's and the loop's code reads these).
        for name, table in metadata.tables.items():
            assert {c["name"] for c in found.get_columns(name)} == set(table.columns.keys())
        # Constraint names are PostgreSQL's own defaults, on both backends.
        uniques = {u["name"] for u in found.get_unique_constraints("aq_vendors")}
        assert {"aq_vendors_name_key", "aq_vendors_token_hash_key"} <= uniques
        fks = {f["name"] for f in found.get_foreign_keys("aq_tasks")}
        assert fks == {"aq_tasks_queue_id_fkey"}
        rounds = {u["name"] for u in found.get_unique_constraints("fl_loop_rounds")}
        assert "fl_loop_rounds_round" in rounds  # a name given in the table keeps it
        if engine.dialect.name == "postgresql":
            assert found.get_pk_constraint("aq_queues")["name"] == "aq_queues_pkey"
    finally:
        engine.dispose()
    open_engine(db_url).dispose()  # idempotent: a second process opens the same tables


def test_the_queue_and_the_loop_work_on_one_engine(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        create_queue(engine, "birds", ["crow", "gull"])
        enqueue(engine, "birds", [{"sample_id": f"s{i}"} for i in range(3)])
        token = add_vendor(engine, "acme", ["birds"])
        with transaction(engine) as conn:
            got = lease(conn, authenticate(conn, token), "birds", 2)
        assert len(got.tasks) == 2
        with transaction(engine) as conn:
            vendor = authenticate(conn, token)
            answers = [Answer(t.task_id, "ann", "crow", False, f"k{t.task_id}") for t in got.tasks]
            submit(conn, vendor, got.lease_id, answers)
        assert open_tasks(engine, "birds") == 1  # consensus 1: the two answered are done
        assert queued_sample_ids(engine) == {"s0", "s1", "s2"}

        store = LoopStore(engine, "default")
        store.claim()
        first = store.start_round("m0002")
        store.finish_round(first.round, "promoted", "passed gates", {"round": 1})
        store.release("stopped", "done")
        assert [(r.round, r.candidate, r.decision) for r in read_rounds(engine, "default")] == [
            (1, "m0002", "promoted")
        ]
        state = read_state(engine, "default")
        assert state is not None and state.phase == "stopped" and state.owner is None
    finally:
        engine.dispose()
