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
from flywheel.db import open_engine, transaction
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


def _annotate(settings: Settings, truth: dict[str, str], ids: list[str]) -> int | None:
    """ann-a answers right, ann-b wrong; four gold samples mixed in. Exported twice, half
    the turns each; returns the labels snapshot of the first export."""
    from flywheel.queue import answers, leasing, store
    from flywheel.queue.export import export_labels
    from flywheel.queue.tasks import add_gold, enqueue

    classes = sorted(set(truth.values()))
    engine = open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", classes, gold_rate=0.3)
    add_gold(engine, "q", [{"sample_id": s, "label": truth[s]} for s in ids[:4]])
    enqueue(engine, "q", [{"sample_id": s} for s in ids[4:24]])
    token = store.add_vendor(engine, "acme", ["q"])
    gold = set(ids[:4])
    # Turns alternate within gold tasks and within the rest apart: where the queue puts
    # the gold copies in a lease is its own (random) business, and both annotators must
    # answer some gold.
    served = {True: 0, False: 0}
    first: int | None = None
    for turn in range(6):
        with transaction(engine) as conn:
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
        if turn == 1:
            export_labels(Lake(settings), engine)
            first = Lake(settings).current_snapshot_id("labels")
    export_labels(Lake(settings), engine)
    engine.dispose()
    return first


def _models_and_predictions(
    settings: Settings, truth: dict[str, str], ids: list[str], trained_on: int | None
) -> None:
    """m0001 (promoted first) predicts the weak label; m0002 the truth, and is promoted.
    m0002 was trained on the labels of the first export (``trained_on``)."""
    from flywheel.lake.state import sync_model_events
    from flywheel.loop.registry import record_decision

    lake = Lake(settings)
    classes = sorted(set(truth.values()))
    for version, status, f1 in (("m0001", "promoted", 0.5), ("m0002", "candidate", 0.9)):
        row = w.candidate_row(version, status)
        per_class = {c: {"f1": f1 if c != classes[0] else 0.7} for c in classes}
        row.update(class_names=classes, metrics=json.dumps({"per_class": per_class}))
        row.update(created_at=datetime.now(UTC), accuracy=f1)
        if version == "m0002":
            row.update(snapshot_ids=json.dumps({"labels": trained_on}))
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
    first_export = _annotate(settings, truth, ids)
    _models_and_predictions(settings, truth, ids, first_export)
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


def _doc_query(*needles: str) -> str:
    """The one query of docs/sql.md that contains every needle."""
    found = [q for q in DOC_QUERIES if all(n in q for n in needles)]
    assert len(found) == 1, needles
    return found[0]


def test_pool_composition_counts_the_samples_table(small_lake: Settings) -> None:
    """The page's pool composition, against the samples counted in Python."""
    rows = flywheel.sql(_doc_query("count(weak_label) as weak_labelled"), small_lake).to_pylist()
    samples = Lake(small_lake).read(
        "samples", columns=["source", "split", "modality", "weak_label"]
    )
    want: dict[tuple[str, str, str], list[int]] = {}
    for r in samples.to_pylist():
        counts = want.setdefault((r["source"], r["split"], r["modality"]), [0, 0])
        counts[0] += 1
        counts[1] += r["weak_label"] is not None
    got = [
        ((r["source"], r["split"], r["modality"]), [r["samples"], r["weak_labelled"]]) for r in rows
    ]
    assert got == sorted(want.items())  # "order by all"
    assert sum(c[0] for c in want.values()) == samples.num_rows > sum(c[1] for c in want.values())


def test_disagreement_by_class_is_the_current_model_s(small_lake: Settings) -> None:
    """The page's model-vs-weak-label disagreement by class, against m0002's predictions
    (the fixture promotes it last; it predicts the truth, so it contradicts the noisy
    hashtags) joined to the weak labels in Python."""
    rows = flywheel.sql(_doc_query("as disagreement", "group by class"), small_lake).to_pylist()
    lake = Lake(small_lake)
    weak = {
        r["sample_id"]: r["weak_label"]
        for r in lake.read("samples", columns=["sample_id", "weak_label"]).to_pylist()
    }
    preds = lake.read(
        "predictions", ["sample_id", "predicted_label"], row_filter="model_version == 'm0002'"
    )
    per_class: dict[str, list[int]] = {}
    for r in preds.to_pylist():
        cls = weak[r["sample_id"]]
        if cls is not None:
            counts = per_class.setdefault(cls, [0, 0])
            counts[0] += 1
            counts[1] += r["predicted_label"] != cls
    got = {r["class"]: (r["scored"], r["disagree"]) for r in rows}
    assert got == {c: (n, d) for c, (n, d) in per_class.items()}
    for r in rows:  # rounded to 3 places (DuckDB rounds half away from zero)
        assert float(r["disagreement"]) == pytest.approx(
            int(r["disagree"]) / int(r["scored"]), abs=5e-4 + 1e-9
        )
    assert rows == sorted(rows, key=lambda r: (-r["disagreement"], r["class"]))
    assert rows[0]["disagree"] > 0  # the noisy hashtags are found


def test_the_sql_page_s_table_list_is_table_kinds() -> None:
    """docs/sql.md's table of tables gives each table's kind and key as TABLE_KINDS does."""
    text = (REPO / "docs" / "sql.md").read_text()
    rows = re.findall(r"^\| (\w+) \| (state|event) \| ([\w, ]+) \|", text, re.M)
    listed = {name: (kind, tuple(k.strip() for k in key.split(","))) for name, kind, key in rows}
    assert len(listed) == len(rows)  # no table twice
    assert listed == {name: (k.kind, k.key) for name, k in TABLE_KINDS.items()}


def test_the_readme_s_state_and_event_lists_are_table_kinds() -> None:
    """The README's paragraph "A table is either the current state ..." names the state
    tables, then the event tables, as TABLE_KINDS has them."""
    readme = (REPO / "README.md").read_text()
    paragraph = re.search(r"^A table is either the current state.*?(?=\n\n)", readme, re.S | re.M)
    assert paragraph, "README lost the paragraph on state and event tables"
    state, events = paragraph.group(0).split("or a record of events")
    listed = {
        "state": set(re.findall(r"`(\w+)`", state)),
        "event": set(re.findall(r"`(\w+)`", events)),
    }
    kinds = {kind: {n for n, k in TABLE_KINDS.items() if k.kind == kind} for kind in listed}
    assert listed == kinds


def readme_sql() -> list[tuple[tuple[str, ...], str]]:
    """The README's SQL examples: (``flywheel sql`` options, query) of each shell line, and
    ``(("python",), query)`` for each ``flywheel.sql(...)`` call."""
    readme = (REPO / "README.md").read_text()
    shell = re.findall(r'flywheel sql ((?:--[\w-]+ \S+ )*)"([^"]+)"', readme)
    python = re.findall(r'flywheel\.sql\("([^"]+)"\)', readme)
    return [(tuple(o.split()), q) for o, q in shell] + [(("python",), q) for q in python]


def _cli_rows(settings: Settings, options: tuple[str, ...], query: str) -> list[dict[str, object]]:
    from click.testing import CliRunner

    from flywheel.cli import cli

    args = ["--root", str(settings.root), "sql", *options, query, "--format", "json"]
    result = CliRunner().invoke(cli, args, env={"FLYWHEEL_ROOT": None})
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_the_readme_sql_examples_return_what_it_says(small_lake: Settings) -> None:
    """Each SQL line of the README answers what its text promises, run as written."""
    lake = Lake(small_lake)
    samples = lake.read("samples", columns=["sample_id", "weak_label"]).to_pylist()
    events = {(e["version"], e["status"]) for e in lake.read("model_events").to_pylist()}
    pinned = json.loads(
        lake.read("models", row_filter="version == 'm0002'")["snapshot_ids"][0].as_py()
    )
    checked = set()
    for options, query in readme_sql():
        rows = (
            flywheel.sql(query, small_lake).to_pylist()
            if options == ("python",)
            else _cli_rows(small_lake, options, query)
        )
        key = (options, query)
        if query == "select weak_label, count(*) from samples group by 1":
            counts = {r["weak_label"]: r["count_star()"] for r in rows}
            want: dict[object, int] = {}
            for row in samples:
                want[row["weak_label"]] = want.get(row["weak_label"], 0) + 1
            assert counts == want
        elif query == "select version, status, accuracy, macro_f1, ece from models":
            # "one row per version", with its current status
            assert sorted((r["version"], r["status"]) for r in rows) == [
                ("m0001", "promoted"),
                ("m0002", "promoted"),
            ]
        elif query == "select version, status, reason, recorded_at from model_events":
            # "every status change": m0002 was a candidate, then promoted
            assert {(r["version"], r["status"]) for r in rows} == events
            assert events == {("m0001", "promoted"), ("m0002", "candidate"), ("m0002", "promoted")}
        elif query == "select sample_id, label, method, agreement from labels":
            ids = [r["sample_id"] for r in rows]
            assert len(ids) == len(set(ids)) > 0  # one consolidated label per sample
        elif options == ("--as-of", "m0002") and query == "select count(*) from labels":
            # "the data that model was trained on": the first export, not the current table
            then = lake.read("labels", snapshot_id=pinned["labels"]).num_rows
            assert rows == [{"count_star()": then}]
            assert then < lake.read("labels").num_rows
        elif options == ("python",) and query == "select * from samples where weak_label = 'three'":
            threes = sum(1 for r in samples if r["weak_label"] == "three")
            assert len(rows) == threes > 0
            assert {r["weak_label"] for r in rows} == {"three"}
        else:
            pytest.fail(f"README SQL with no check here: flywheel sql {options} {query!r}")
        checked.add(key)
    assert len(checked) == 6, checked


def test_dawid_skene_in_sql_is_the_queue_s_dawid_skene(small_lake: Settings) -> None:
    """The page's Dawid-Skene query gives the estimates of flywheel.queue.quality's EM on
    the same answers (the classes those answers use, gold tasks pinned)."""
    import numpy as np

    from flywheel.queue.quality import dawid_skene

    query = next(q for q in DOC_QUERIES if "ds_accuracy" in q)
    got = {r["annotator"]: r["ds_accuracy"] for r in flywheel.sql(query, small_lake).to_pylist()}
    answers = flywheel.sql(
        "select task_id, annotator, label, is_gold, sample_id from annotations "
        "where kind = 'label' and counted and not skip order by annotation_id",
        small_lake,
    ).to_pylist()
    gold_rows = flywheel.sql(
        "select sample_id, label from labels where method = 'gold'", small_lake
    )
    gold = {r["sample_id"]: r["label"] for r in gold_rows.to_pylist()}
    # the classes the answers use and those of the answered gold tasks, as the query's
    # `classes` (a gold task's true class may be one nobody answered)
    classes = sorted(
        {a["label"] for a in answers}
        | {gold[a["sample_id"]] for a in answers if a["is_gold"] and a["sample_id"] in gold}
    )
    tasks = sorted({a["task_id"] for a in answers})
    who = sorted({a["annotator"] for a in answers})
    result = dawid_skene(
        np.array([tasks.index(a["task_id"]) for a in answers]),
        np.array([who.index(a["annotator"]) for a in answers]),
        np.array([classes.index(a["label"]) for a in answers]),
        len(classes),
        known={
            tasks.index(a["task_id"]): classes.index(gold[a["sample_id"]])
            for a in answers
            if a["is_gold"] and a["sample_id"] in gold
        },
    )
    want = {w: float(result.accuracy[i]) for i, w in enumerate(who)}
    assert got.keys() == want.keys() == {"ann-a", "ann-b"}
    for name in want:
        assert abs(got[name] - want[name]) < 0.005, (got, want)
    assert got["ann-b"] < got["ann-a"]
