"""Every query of docs/sql.md, and the README's SQL, run against a small real lake:
digits ingested through ingest's commit (20% of the hashtags name another digit), a
queue answered by two annotators (one careless) with gold mixed in and exported, two
model versions (the second promoted by the gates' writer) and their predictions."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

import flywheel
from flywheel.config import Settings
from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.lake.schema import TABLE_KINDS
from tests import lake_writers as w

REPO = Path(__file__).resolve().parents[1]
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)


def _ingest(settings: Settings, dest: Path) -> dict[str, str]:
    """The digits folder through ingest's commit path; returns sample_id -> true class."""
    from flywheel.ingest.commit import Committer
    from flywheel.ingest.inspect import InspectConfig, inspect_items
    from flywheel.ingest.sources import list_source
    from flywheel.ingest.summary import IngestSummary
    from flywheel.sample_data import write_digits_folder
    from flywheel.taxonomy import Taxonomy

    folder = write_digits_folder(dest, n=40, seed=1, noise=0.2)
    listing = list_source(str(folder.root), settings.s3)
    config = InspectConfig(
        source=listing.source, split="pool", run_id="r1",
        taxonomy=Taxonomy.load(folder.taxonomy), media_prefix=settings.media_prefix(),
        s3=settings.s3,
    )  # fmt: skip
    committer = Committer(Lake(settings), "r1", listing.source)
    committer.add_samples(*inspect_items(listing.items, config), settings.s3)
    committer.commit(IngestSummary(run_id="r1", source=listing.source))
    return {
        hashlib.sha256((folder.root / rel).read_bytes()).hexdigest(): label
        for rel, label in folder.truth.items()
    }


def _annotate(settings: Settings, truth: dict[str, str], ids: list[str]) -> None:
    """ann-a answers right, ann-b wrong; four gold samples mixed in."""
    from flywheel.queue import answers, leasing, store
    from flywheel.queue.export import export_labels
    from flywheel.queue.tasks import add_gold, enqueue

    classes = sorted(set(truth.values()))
    engine = store.open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", classes, gold_rate=0.3)
    add_gold(engine, "q", [{"sample_id": s, "label": truth[s]} for s in ids[:4]])
    enqueue(engine, "q", [{"sample_id": s} for s in ids[4:24]])
    token = store.add_vendor(engine, "acme", ["q"])
    gold = set(ids[:4])
    # Turns alternate within gold tasks and within the rest apart: where the queue puts
    # the gold copies in a lease is its own (random) business, and both annotators must
    # answer some gold.
    served = {True: 0, False: 0}
    for turn in range(6):
        with store.transaction(engine) as conn:
            vendor = store.authenticate(conn, token)
            got = leasing.lease(conn, vendor, "q", 8)
            given = []
            for i, task in enumerate(got.tasks):
                is_gold = task.sample_id in gold
                who = "ann-a" if served[is_gold] % 2 == 0 else "ann-b"
                served[is_gold] += 1
                right = truth[task.sample_id]
                wrong = next(c for c in classes if c != right)
                label = wrong if who == "ann-b" else right
                given.append(answers.Answer(task.task_id, who, label, False, f"k{turn}-{i}"))
            if given:
                answers.submit(conn, vendor, got.lease_id, given)
    export_labels(Lake(settings), engine)
    engine.dispose()


def _models_and_predictions(settings: Settings, truth: dict[str, str], ids: list[str]) -> None:
    """m0001 (promoted first) predicts the weak label; m0002 the truth, and is promoted."""
    from flywheel.lake.state import sync_model_events
    from flywheel.loop.registry import record_decision

    lake = Lake(settings)
    classes = sorted(set(truth.values()))
    for version, status, f1 in (("m0001", "promoted", 0.5), ("m0002", "candidate", 0.9)):
        row = w.candidate_row(version, status)
        per_class = {c: {"f1": f1 if c != classes[0] else 0.7} for c in classes}
        row.update(class_names=classes, metrics=json.dumps({"per_class": per_class}))
        row.update(created_at=datetime.now(UTC), accuracy=f1)
        lake.commit("models", pa.Table.from_pylist([row], TABLE_SCHEMAS["models"]), {})
        sync_model_events(lake)
    record_decision(lake, lake.read("models", row_filter="version == 'm0002'").to_pylist()[0],
                    "promoted", "passed every gate", {"accuracy": "ok"})  # fmt: skip
    samples = lake.read("samples", columns=["sample_id", "weak_label"])
    weak = dict(
        zip(samples["sample_id"].to_pylist(), samples["weak_label"].to_pylist(), strict=True)
    )
    for version, answer in (("m0001", weak), ("m0002", truth)):
        preds = w.prediction_rows(ids)
        labels = [answer.get(s) or classes[0] for s in ids]
        preds = preds.set_column(1, "model_version", pa.array([version] * len(ids)))
        preds = preds.set_column(3, "predicted_label", pa.array(labels))
        lake.commit("predictions", preds.cast(TABLE_SCHEMAS["predictions"]), {})


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = tmp_path_factory.mktemp("sql-lake")
    settings = Settings.from_env(root=base / "root", environ={})
    settings.root.mkdir(parents=True)
    truth = _ingest(settings, base / "digits")
    ids = sorted(Lake(settings).read("samples", columns=["sample_id"])["sample_id"].to_pylist())
    _annotate(settings, truth, ids)
    _models_and_predictions(settings, truth, ids)
    return settings


def queries(path: Path) -> list[str]:
    return [q.strip() for q in SQL_BLOCK.findall(path.read_text())]


DOC_QUERIES = queries(REPO / "docs" / "sql.md")


@pytest.mark.parametrize("query", DOC_QUERIES, ids=[f"q{i}" for i in range(len(DOC_QUERIES))])
def test_every_query_of_the_sql_page_answers(small_lake: Settings, query: str) -> None:
    result = flywheel.sql(query, small_lake)
    assert result.num_rows > 0, query


def test_the_answers_are_the_lake_s(small_lake: Settings) -> None:
    by = {q.split("\n")[0][:40]: q for q in DOC_QUERIES}
    noise = flywheel.sql(next(q for k, q in by.items() if "select tag" in k), small_lake)
    assert max(noise["noise_rate"].to_pylist()) > 0  # some hashtags name another digit
    gold = next(q for q in DOC_QUERIES if "gold_accuracy" in q)
    acc = {r["annotator"]: r["gold_accuracy"] for r in flywheel.sql(gold, small_lake).to_pylist()}
    assert acc == {"ann-a": 1.0, "ann-b": 0.0}
    models = flywheel.sql(DOC_QUERIES[0], small_lake).to_pylist()
    assert [(m["version"], m["status"]) for m in models] == [
        ("m0001", "promoted"),
        ("m0002", "promoted"),
    ]


@pytest.mark.parametrize("name", sorted(n for n, k in TABLE_KINDS.items() if k.kind == "state"))
def test_every_state_table_has_one_row_per_key(small_lake: Settings, name: str) -> None:
    key = ", ".join(TABLE_KINDS[name].key)
    query = f"select count(*) = count(distinct ({key})) as ok, count(*) as n from {name}"
    row = flywheel.sql(query, small_lake).to_pylist()[0]
    assert row["ok"] and row["n"] > 0


def test_the_readme_sql_examples_run(small_lake: Settings) -> None:
    readme = (REPO / "README.md").read_text()
    found = re.findall(r'flywheel sql "([^"]+)"', readme)
    assert found
    for query in found:
        flywheel.sql(query, small_lake)  # raises QueryError when the README is stale
