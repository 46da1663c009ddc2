"""Reading learning curves: pure functions, tested on hand-made curves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import flywheel.bench
from flywheel.bench.report import (
    format_table,
    labels_to_target,
    median_labels,
    plot_curves,
    summarize,
    write_curves,
    write_summary,
)
from flywheel.bench.simulate import CurvePoint


def curve(strategy: str, seed: int, accs: list[float], start: int = 20, step: int = 20):
    return [CurvePoint(strategy, seed, start + i * step, a) for i, a in enumerate(accs)]


def test_public_names() -> None:
    assert sorted(flywheel.bench.__all__) == [
        "BenchConfig",
        "BenchResult",
        "CurvePoint",
        "Oracle",
        "TARGETS",
        "labels_to_target",
        "run_benchmark",
        "summarize",
    ]


def test_labels_to_target_is_the_first_crossing() -> None:
    n = [20, 40, 60, 80]
    assert labels_to_target(n, [0.5, 0.95, 0.90, 0.97], 0.95) == 40  # reached exactly
    assert labels_to_target(n, [0.5, 0.94, 0.90, 0.97], 0.95) == 80
    assert labels_to_target(n, [0.5, 0.6, 0.7, 0.8], 0.95) is None  # not within budget
    assert labels_to_target([80, 20, 40], [0.99, 0.2, 0.96], 0.95) == 40  # order-free


def test_median_counts_an_unreached_seed_as_infinite() -> None:
    assert median_labels([40, 60, None]) == 60
    assert median_labels([40, None, None]) is None
    assert median_labels([40, None]) is None  # the mean of 40 and infinity
    assert median_labels([40, 60]) == 50
    assert median_labels([]) is None


def test_summarize_on_a_hand_built_curve() -> None:
    # Full data 0.90 (median of three seeds): targets 0.855 (95%) and 0.891 (99%).
    points = (
        curve("random", 0, [0.50, 0.80, 0.86, 0.88])
        + curve("random", 1, [0.50, 0.70, 0.80, 0.86])
        + curve("random", 2, [0.50, 0.70, 0.80, 0.84])
        + curve("margin", 0, [0.50, 0.86, 0.90, 0.91])
        + curve("margin", 1, [0.50, 0.87, 0.88, 0.89])
        + curve("margin", 2, [0.50, 0.80, 0.895, 0.92])
    )
    summary = summarize(points, [0.89, 0.90, 0.95], budget=80)
    assert summary["full_data_accuracy"] == pytest.approx(0.90)
    random, margin = summary["strategies"]["random"], summary["strategies"]["margin"]
    # random reaches 0.855 at 60, 80 and never: median 80; 0.891 never.
    assert random == {"labels_to_95": 80, "labels_to_99": None, "accuracy_at_budget": 0.86}
    # margin: 0.855 at 40, 40, 60 -> 40; 0.891 at 60, never, 60 -> 60.
    assert margin["labels_to_95"] == 40 and margin["labels_to_99"] == 60
    assert margin["accuracy_at_budget"] == pytest.approx(0.91)
    assert list(summary["strategies"]) == ["random", "margin"]


def test_a_curve_cut_before_the_budget_has_no_accuracy_at_budget() -> None:
    summary = summarize(curve("margin", 0, [0.5, 0.6]), [0.9], budget=100)
    assert summary["strategies"]["margin"]["accuracy_at_budget"] is None


def test_table_compares_with_random() -> None:
    points = curve("random", 0, [0.5, 0.7, 0.9]) + curve("badge", 0, [0.5, 0.9, 0.95])
    table = format_table(summarize(points, [0.9], budget=60))
    lines = table.splitlines()
    assert lines[0] == "full-data accuracy 0.9000"
    assert lines[1].split() == [
        "strategy",
        "labels_to_95",
        "labels_to_99",
        "accuracy_at_budget",
        "labels_to_95",
        "x",
        "random",
    ]
    assert lines[2].split()[-1] == "1.00" and lines[3].split()[-1] == "0.67"  # 40 / 60


def test_files(tmp_path: Path) -> None:
    points = curve("random", 0, [0.5, 0.7]) + curve("margin", 0, [0.5, 0.8])
    write_curves(tmp_path / "curves.csv", points)
    with (tmp_path / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["strategy", "seed", "n_labels", "accuracy"]
    assert [r["n_labels"] for r in rows] == ["20", "40", "20", "40"]
    summary = summarize(points, [0.8], budget=40)
    write_summary(tmp_path / "summary.json", summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    plot_curves(tmp_path / "c.png", points, {"95% of full data": 0.76}, "test")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    levels = {"clean": 0.8, "weak labels only": 0.5}
    plot_curves(tmp_path / "w.png", points, levels, "weak", band="se")
    assert (tmp_path / "w.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
