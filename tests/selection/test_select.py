"""Select on real data: every strategy run through `flywheel select` against the shared
scored lake (tests/scored.py: the digits, a model trained with Ray Train, the pool scored
with Ray Data)."""

from __future__ import annotations

import csv
import io
from collections import Counter

import numpy as np
import pytest

from flywheel.config import Settings
from flywheel.lake import Lake, sql
from tests.scored import run

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _picks(settings: Settings, round_: int) -> list[dict]:  # type: ignore[type-arg]
    return sql(
        f"select * from selections where round = {round_} order by rank", settings
    ).to_pylist()


def _last_round(settings: Settings) -> int:
    return int(sql("select max(round) as r from selections", settings).column("r")[0].as_py())


@pytest.mark.parametrize(
    "strategy", ["random", "least-confidence", "margin", "entropy", "bald", "kcenter", "badge"]
)
def test_every_strategy_selects_with_prefill(scored: Settings, strategy: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        scored, capsys, "select", "--strategy", strategy, "--budget", "15", "--seed", "0"
    )
    assert code == 0, err
    picks = _picks(scored, _last_round(scored))
    assert len(picks) == 15 and len({p["sample_id"] for p in picks}) == 15
    assert [p["rank"] for p in picks] == list(range(1, 16))
    assert all(p["predicted_label"] and p["top_k"] and p["model_version"] == "m0001" for p in picks)
    assert all(p["strategy"] == f"skip-known({strategy})" for p in picks)
    assert "15 of" in out and strategy in out


def test_the_picks_print_whole_ids_and_name_the_query_for_the_rest(
    scored: Settings, capsys
) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(scored, capsys, "select", "--strategy", "margin", "--budget", "12")
    assert code == 0, err
    round_ = _last_round(scored)
    picks = _picks(scored, round_)
    lines = out.splitlines()
    assert lines[0].split() == ["rank", "sample_id", "score", "predicted_label", "confidence",
                                "weak_label"]  # fmt: skip
    # The first ten, each id whole (64 characters: what report-error and sql take).
    assert [ln.split()[:2] for ln in lines[2:12]] == [
        [str(p["rank"]), p["sample_id"]] for p in picks[:10]
    ]
    assert all(len(p["sample_id"]) == 64 for p in picks)
    # No note about cut values or options select does not have; the rest are one
    # query away, in a format that prints them whole.
    assert "are cut" not in out and "--max-rows" not in out
    query = (
        "select rank, sample_id, score, predicted_label, confidence, weak_label "
        f"from selections where round = {round_} order by rank"
    )
    assert lines[12] == f'... 2 more; all 12: flywheel sql "{query}" --format csv'
    code, out, err = run(scored, capsys, "sql", query, "--format", "csv")
    assert code == 0, err
    printed = [row["sample_id"] for row in csv.DictReader(io.StringIO(out))]
    assert printed == [p["sample_id"] for p in picks]


def test_margin_picks_the_closest_calls(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(scored, capsys, "select", "--strategy", "margin", "--budget", "20")[0] == 0
    picked = {p["sample_id"] for p in _picks(scored, _last_round(scored))}
    margins = sql("select sample_id, margin from predictions", scored).to_pylist()
    chosen = [m["margin"] for m in margins if m["sample_id"] in picked]
    rest = [m["margin"] for m in margins if m["sample_id"] not in picked]
    assert max(chosen) <= min(rest) + 1e-6


def test_class_balanced_spreads_over_predicted_classes(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(
        scored, capsys, "select", "--strategy", "entropy", "--budget", "20", "--class-balanced"
    )
    assert code == 0, err
    labels = [p["predicted_label"] for p in _picks(scored, _last_round(scored))]
    assert len(set(labels)) >= 8  # 20 picks over 10 predicted classes


def test_label_errors_become_verify_tasks_in_a_queue(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    classes = sql("select class_names from models", scored).column("class_names")[0].as_py()
    assert run(scored, capsys, "queue", "create", "verify", "--labels", ",".join(classes))[0] == 0
    code, out, err = run(scored, capsys, "select", "--strategy", "label-errors", "--budget", "5",
                          "--queue", "verify")  # fmt: skip
    assert code == 0, err
    picks = _picks(scored, _last_round(scored))
    assert all(p["kind"] == "verify" and p["weak_label"] for p in picks)
    assert "5 tasks added" in out
    # Picked again: already queued, so the skip-known modifier leaves them out.
    code, out, _ = run(
        scored, capsys, "select", "--strategy", "label-errors", "--budget", "5", "--queue", "verify"
    )
    again = {p["sample_id"] for p in _picks(scored, _last_round(scored))}
    assert code == 0 and not again & {p["sample_id"] for p in picks}


def test_blocklisted_classes_are_never_prefilled(scored: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    """The picks the model would prefill with its top class get the best other class, and
    blocklisted classes leave the top-k; the rest keep the model's prediction."""
    code, _, err = run(scored, capsys, "select", "--strategy", "entropy", "--budget", "40",
                        "--seed", "1", "--top-k", "3")  # fmt: skip
    assert code == 0, err
    plain = {p["sample_id"]: p for p in _picks(scored, _last_round(scored))}
    top = Counter(p["predicted_label"] for p in plain.values()).most_common(1)[0][0]
    code, _, err = run(scored, capsys, "select", "--strategy", "entropy", "--budget", "40",
                        "--seed", "1", "--top-k", "3", "--blocklist", top)  # fmt: skip
    assert code == 0, err
    blocked = _picks(scored, _last_round(scored))
    assert blocked and all(p["predicted_label"] != top for p in blocked)
    assert all(top not in [t["label"] for t in p["top_k"]] for p in blocked)
    probs = {r["sample_id"]: r["probs"] for r in sql(
        "select sample_id, probs from predictions where model_version = 'm0001'", scored).to_pylist()}  # fmt: skip
    classes = sql("select class_names from models", scored).column("class_names")[0].as_py()
    for p in blocked:
        ranked = [classes[j] for j in np.argsort(-np.asarray(probs[p["sample_id"]]), kind="stable")]
        assert p["predicted_label"] == next(c for c in ranked if c != top)
    moved = [
        p
        for p in blocked
        if p["sample_id"] in plain and plain[p["sample_id"]]["predicted_label"] == top
    ]
    assert moved, "no pick had the blocklisted class as its top class"  # the case under test


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--strategy", "margin", "--budget", "5", "--blocklist", "zero,ten"],
            "unknown classes ['ten']",
        ),
        (["--strategy", "coin-flip", "--budget", "5"], "unknown strategy 'coin-flip'"),
        (["--strategy", "margin", "--budget", "100000"], "100000"),
        (["--strategy", "margin", "--budget", "5", "--queue", "nope"], "nope"),
        (["--strategy", "margin", "--budget", "5", "--model", "m0999"], "does not exist"),
        (["--strategy", "margin", "--budget", "5", "--target-priors", "zero=x"], "CLASS=P"),
        (["--from-cluster", "zero:1"], "No such option '--from-cluster'"),
        (["--budget", "5"], "Missing option '--strategy'"),
    ],
)
def test_bad_select_requests_write_nothing(
    scored: Settings, args: list[str], message: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    before = Lake(scored).snapshot_ids()
    code, _, err = run(scored, capsys, "select", *args)
    assert code != 0 and err.count("\n") == 1 and message in err, err
    assert Lake(scored).snapshot_ids() == before
