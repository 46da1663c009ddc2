"""`flywheel report verify-cluster` turns a group of a split class into verify tasks on
the real queue (recorded as a selections round), and `flywheel report balance` counts
the labels that came back by source."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from flywheel.config import Settings
from flywheel.db import queue_tables as t
from flywheel.lake import Lake, sql
from flywheel.queue import create_queue, open_engine
from flywheel.reports.clusters import SplitConfig
from flywheel.reports.verify import class_split
from tests.reports.browser import Browser
from tests.reports.conftest import MIXED, Annotated, keep_screenshot, run_cli


def _tasks(settings: Settings) -> list[dict]:
    engine = open_engine(settings.catalog_uri)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(t.tasks.c.sample_id, t.tasks.c.kind, t.tasks.c.prefill))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def test_verify_cluster_sends_the_most_typical_members_of_the_group(annotated: Annotated) -> None:
    settings = annotated.lake.settings
    code, stdout, err = annotated.verify
    assert code == 0, err
    assert stdout.splitlines()[-1].startswith("select round 1: 5 of ")
    assert f"split-cluster({MIXED}:2) with m0001" in stdout and "5 tasks added" in stdout
    group = class_split(settings, "m0001", MIXED, SplitConfig()).groups[1]
    picks = sql("select * from selections where round = 1 order by rank", settings).to_pylist()
    assert [p["sample_id"] for p in picks] == group.members[:5]
    assert {(p["kind"], p["strategy"], p["queue"], p["weak_label"]) for p in picks} == {
        ("verify", f"split-cluster({MIXED}:2)", "review", MIXED)}  # fmt: skip
    assert all(p["predicted_label"] and p["top_k"] for p in picks)  # prefilled
    verify = [x for x in _tasks(settings) if x["kind"] == "verify"]
    assert sorted(x["sample_id"] for x in verify) == sorted(group.members[:5])
    assert {x["prefill"]["label"] for x in verify} == {MIXED}  # "is this seven-or-one?"
    # The group is one real class (the model trained on true classes separates them).
    assert len({annotated.lake.truth[s] for s in group.members[:5]}) == 1


def test_verify_cluster_again_takes_the_next_members_and_bad_requests_write_nothing(
    annotated: Annotated,
) -> None:
    settings = annotated.lake.settings
    lake = Lake(settings)
    group = class_split(settings, "m0001", MIXED, SplitConfig()).groups[1]
    code, stdout, err = run_cli(settings, "report", "verify-cluster", f"{MIXED}:2", "--queue",
                                "review", "--budget", "5")  # fmt: skip
    assert code == 0, err
    assert f"{min(5, group.size - 5)} tasks added" in stdout
    verify = [x["sample_id"] for x in _tasks(settings) if x["kind"] == "verify"]
    assert len(verify) == len(set(verify)) == min(10, group.size)  # queued ones are skipped
    assert set(verify) == set(group.members[: len(verify)])
    before = lake.current_snapshot_id("selections"), len(_tasks(settings))
    engine = open_engine(settings.catalog_uri)
    create_queue(engine, "cats", ["jaguar", "lynx"])
    engine.dispose()
    for args, needle in [
        ([f"{MIXED}:7", "--queue", "review"], "pick 1..2"),
        (["jaguar:1", "--queue", "review"], "queue 'review' cannot ask about 'jaguar'"),
        (["jaguar:1", "--queue", "cats"], "no sample of class 'jaguar'"),
        (["seven-or-one", "--queue", "review"], "CLASS:GROUP"),
        ([f"{MIXED}:1", "--queue", "nope"], "no queue named 'nope'"),
        ([f"{MIXED}:1", "--queue", "review", "--model", "m0077"], "m0077"),
    ]:
        code, _, err = run_cli(settings, "report", "verify-cluster", *args)
        assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert (lake.current_snapshot_id("selections"), len(_tasks(settings))) == before


def test_balance_counts_labels_by_source(
    annotated: Annotated, tmp_path: Path, browser: Browser
) -> None:
    settings = annotated.lake.settings
    code, stdout, err = run_cli(
        settings, "report", "balance", "--out", str(tmp_path / "balance.html")
    )
    assert code == 0, err
    assert stdout.count("\n") == 1 and stdout.startswith(
        "balance: 11 classes; labels from weak tags "
    )
    doc = json.loads((tmp_path / "balance.json").read_text())
    classes = {c["class"]: c for c in doc["classes"]}
    weak = sql(
        "select weak_label as c, count(*) as n from samples where weak_label is not null group by 1",
        settings,
    )
    assert {r["c"]: r["n"] for r in weak.to_pylist()} == {
        c: v["weak"] for c, v in classes.items() if v["weak"]
    }
    assert classes[MIXED]["verify"] == len(annotated.verified) == 5
    for name, n in Counter(annotated.gold.values()).items():
        assert classes[name]["gold"] == n
    assert sum(c["vendor"] for c in classes.values()) == len(annotated.labelled) == 4
    answers = doc["vendors"]["acme"]
    assert answers["verify:yes"] == 5 and sum(v for k, v in answers.items() if ":" not in k) == 4
    assert sum(c["training"] for c in classes.values()) == sql(
        "select count(*) as n from samples where weak_label is not null or sample_id in (select sample_id from labels)",
        settings).column("n")[0].as_py()  # fmt: skip
    browser.open(tmp_path / "balance.html")
    assert browser.errors() == []
    assert (
        browser.eval("document.querySelectorAll('table.grid')[0].querySelectorAll('tr').length")
        == 12
    )
    assert browser.eval("document.images[0].naturalWidth > 0")
    keep_screenshot(browser, tmp_path, "balance")
