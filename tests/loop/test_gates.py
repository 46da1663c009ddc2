"""The gates on real trained models, and the registry and lineage they leave behind.

m0001 (the template's) is trained on the weak labels; m0002 is made deliberately worse:
fine-tuned from m0001 on labels shuffled across the training part of the pool (the
held-out slice keeps its labels, so the evaluation stays honest)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.lake import TABLE_SCHEMAS, Lake, sql
from flywheel.loop.evaluation import Predictor, read_eval_set
from flywheel.loop.feedback import FeedbackReport, record_feedback
from flywheel.loop.gates import GateConfig, evaluate_gates, gate_candidate
from flywheel.train import TrainConfig, train
from flywheel.train.data import in_holdout
from flywheel.train.registry import Models
from tests.loop.conftest import TRAIN, Template

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _labels(rows: list[tuple[str, str]], first_id: int) -> pa.Table:
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "label_id": first_id + i,
                "sample_id": s,
                "label": label,
                "kind": "label",
                "method": "single",
                "queue": "digits",
                "task_id": first_id + i,
                "votes": [(label, 1)],
                "agreement": 1.0,
                "confidence": 1.0,
                "n_answers": 1,
                "decided_at": now,
            }
            for i, (s, label) in enumerate(rows)
        ],
        schema=TABLE_SCHEMAS["labels"],
    )


@pytest.fixture(scope="module")
def bad_candidate(loop_template: Template) -> Settings:
    settings = loop_template.restore()
    lake = Lake(settings)
    pool = lake.read("samples", columns=["sample_id"], row_filter="split == 'pool'")
    ids = [s for s in pool["sample_id"].to_pylist() if s in loop_template.truth]
    train_ids = [s for s, held in zip(ids, in_holdout(ids, 0.2), strict=True) if not held]
    shuffled = np.random.default_rng(0).permutation([loop_template.truth[s] for s in train_ids])
    lake.commit("labels", _labels(list(zip(train_ids, shuffled.tolist(), strict=True)), 1), {})
    summary = train(settings, TrainConfig(epochs=3, from_version="promoted", **TRAIN))  # type: ignore[arg-type]
    assert (summary.version, summary.status) == ("m0002", "candidate")
    # one more labelled sample after m0002 was trained: `sql --as-of m0002` must not see it
    # (a sample not labelled before: `labels` holds one row per sample)
    late = next(s for s, held in zip(ids, in_holdout(ids, 0.2), strict=True) if held)
    lake.commit("labels", _labels([(late, loop_template.truth[late])], 10_000), {})
    return settings


def _rows(settings: Settings) -> tuple[dict, dict]:  # type: ignore[type-arg]
    history = Models.read(Lake(settings))
    return history.latest["m0002"], history.latest["m0001"]


def test_a_worse_candidate_fails_the_accuracy_gate(bad_candidate: Settings) -> None:
    candidate, current = _rows(bad_candidate)
    result = evaluate_gates(Lake(bad_candidate), candidate, current, GateConfig(tolerance=0.01))
    assert not result.passed and result.status == "rejected"
    assert result.facts["accuracy"] < result.facts["against_accuracy"] - 0.01
    assert [c.name for c in result.checks if not c.passed] == ["accuracy"]
    assert "below m0001's" in result.reason and "held-out samples" in result.reason
    assert "exact McNemar p = " in result.reason  # the paired test's verdict is recorded
    assert result.facts["best"] == "m0001" and result.facts["paired_test"]["p_value"] < 0.05
    # the gate's own evaluation of the candidate matches what training measured
    assert result.facts["accuracy"] == pytest.approx(candidate["accuracy"], abs=1e-6)
    # a generous tolerance alone does not let it through: it is significantly worse ...
    loose = evaluate_gates(Lake(bad_candidate), candidate, current, GateConfig(tolerance=1.0))
    assert not loose.passed and "significantly below m0001's" in loose.reason
    # ... with the paired test off too (alpha 0), it passes that gate
    off = GateConfig(tolerance=1.0, alpha=0.0)
    assert evaluate_gates(Lake(bad_candidate), candidate, current, off).passed


def test_a_candidate_equal_to_the_current_model_passes(bad_candidate: Settings) -> None:
    _, current = _rows(bad_candidate)
    result = evaluate_gates(
        Lake(bad_candidate), current, current, GateConfig(0.0, frozenset({"one"}))
    )
    assert result.passed and result.reason.startswith("passed gates against m0001")


def test_the_accuracy_gate_compares_with_the_best_promoted_model(bad_candidate: Settings) -> None:
    """Were the worse m0002 the current model, a candidate as good as it would still be
    measured against m0001, the best promoted model, and fail even at tolerance 1."""
    worse, best = _rows(bad_candidate)
    lake, loose = Lake(bad_candidate), GateConfig(tolerance=1.0)
    assert evaluate_gates(lake, worse, worse, loose).passed  # the old rule: current only
    result = evaluate_gates(lake, worse, worse, loose, promoted=[best, worse])
    assert [c.name for c in result.checks if not c.passed] == ["accuracy"]
    assert result.facts["best"] == "m0001" and result.facts["against"] == "m0002"
    assert (
        "significantly below m0001's" in result.reason
        and "(the best promoted model)" in result.reason
    )
    assert result.facts["paired_test"]["b"] > result.facts["paired_test"]["c"]


def _disagreements(settings: Settings, template: Template) -> list[tuple[str, str, str]]:
    """(sample_id, m0001's output, m0002's output) where m0001 is right and m0002 wrong."""
    lake = Lake(settings)
    candidate, current = _rows(settings)
    cases = read_eval_set(lake, candidate)
    old = Predictor(current, settings).predict(cases.media)
    new = Predictor(candidate, settings).predict(cases.media)
    return [
        (s, o, n)
        for s, o, n in zip(cases.sample_ids, old, new, strict=True)
        if o == template.truth[s] != n
    ]


def test_a_blocklisted_class_output_wrongly_blocks(
    bad_candidate: Settings, loop_template: Template
) -> None:  # type: ignore[no-untyped-def]
    cases = _disagreements(bad_candidate, loop_template)
    assert cases, "the shuffled-label model should get some case m0001 gets right wrong"
    blocked = cases[0][2]  # a class m0002 outputs where it is wrong and m0001 was right
    candidate, current = _rows(bad_candidate)
    config = GateConfig(tolerance=1.0, blocklist=frozenset({blocked}), alpha=0.0)
    result = evaluate_gates(Lake(bad_candidate), candidate, current, config)
    assert [c.name for c in result.checks if not c.passed] == ["blocklist"]
    assert f"blocklisted class(es) {blocked}" in result.reason
    # the current model's own outputs are never "new": it passes against itself
    assert evaluate_gates(Lake(bad_candidate), current, current, config).passed


def test_a_regressed_gallery_case_blocks(bad_candidate: Settings, loop_template: Template) -> None:
    sample_id, old, new = _disagreements(bad_candidate, loop_template)[0]
    record_feedback(bad_candidate, FeedbackReport(predicted=new, expected=old, sample_id=sample_id))
    candidate, current = _rows(bad_candidate)
    loose = GateConfig(tolerance=1.0, alpha=0.0)
    result = evaluate_gates(Lake(bad_candidate), candidate, current, loose)
    assert [c.name for c in result.checks if not c.passed] == ["gallery"]
    assert sample_id[:12] in result.reason and f"expected {old}, now {new}" in result.reason
    assert result.facts["gallery_n"] == 1


def test_the_decision_is_recorded_once_and_the_registry_shows_it(
    bad_candidate: Settings, capsys
) -> None:  # type: ignore[no-untyped-def]
    lake = Lake(bad_candidate)
    candidate, _ = _rows(bad_candidate)
    result = gate_candidate(lake, candidate, GateConfig())
    assert result.status == "rejected"
    history = Models.read(lake)
    row = history.latest["m0002"]
    assert (row["status"], row["reason"]) == ("rejected", result.reason)
    gate = json.loads(row["metrics"])["gate"]
    assert gate["against"] == "m0001" and gate["checks"]["accuracy"] is False
    assert row["snapshot_ids"] == candidate["snapshot_ids"]  # lineage is the training run's
    assert history.promoted()["version"] == "m0001"
    assert Models.read(lake).promoted()["version"] == "m0001"  # train's view agrees
    assert Models.read(lake).get("m0002")["status"] == "rejected"
    before = lake.current_snapshot_id("models")
    gate_candidate(lake, candidate, GateConfig())  # decided already: nothing written
    assert lake.current_snapshot_id("models") == before

    capsys.readouterr()
    assert main(["--root", str(bad_candidate.root), "models"]) == 0
    out = capsys.readouterr().out.splitlines()
    m1 = next(line for line in out if " m0001 " in line)
    m2 = next(line for line in out if " m0002 " in line)
    assert m1.startswith("*") and "promoted" in m1 and "first model" in m1
    assert "rejected" in m2 and "m0001" in m2 and "below m0001's" in m2
    snaps = json.loads(candidate["snapshot_ids"])
    assert f"labels@{snaps['labels']}" in m2 and f"samples@{snaps['samples']}" in m2
    assert main(["--root", str(bad_candidate.root), "gate", "m0002"]) != 0  # decided already
    assert "rejected already" in capsys.readouterr().err


def test_sql_as_of_reads_the_snapshots_a_model_was_trained_on(
    bad_candidate: Settings, capsys
) -> None:  # type: ignore[no-untyped-def]
    query = "select count(*) as n from labels"
    now = sql(query, bad_candidate).column("n")[0].as_py()
    capsys.readouterr()
    assert (
        main(
            [
                "--root",
                str(bad_candidate.root),
                "sql",
                "--as-of",
                "m0002",
                query,
                "--format",
                "json",
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    assert json.loads(out.out)[0]["n"] == now - 1  # the label added after training is absent
    assert "as of m0002" in out.err
    code = main(["--root", str(bad_candidate.root), "sql", "--as-of", "m0999", query])
    assert code != 0 and "m0999" in capsys.readouterr().err
