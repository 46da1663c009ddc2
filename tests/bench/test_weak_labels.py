"""Weak-label mode: the noise the pool starts with, answers replacing weak labels, the
gap-recovery reading, a tiny end-to-end run on real digits, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flywheel.bench import BenchConfig, run_benchmark
from flywheel.bench.data import prepare_data
from flywheel.bench.report import labels_to_recover, summarize_weak
from flywheel.bench.simulate import CurvePoint
from flywheel.bench.weak import WEAK_WEIGHT, WeakPool, confusion_partner, make_weak_labels
from flywheel.cli import main
from flywheel.datasets import DIGIT_CLASSES, FASHION_CLASSES
from flywheel.errors import ConfigError

N = 50_000  # samples for the noise-rate checks: the rate's SE is 0.002 at P = 0.25


def truth() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 10, N).astype(np.int64)


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.25, 0.5])
def test_uniform_noise_has_the_asked_rate_and_spreads_evenly(noise: float) -> None:
    y = truth()
    weak = make_weak_labels(y, DIGIT_CLASSES, noise, "uniform", seed=0)
    wrong = weak != y
    assert abs(wrong.mean() - noise) < 0.01
    if noise:
        # A wrong label is any of the 9 other classes alike: offset 1..9 each ~1/9.
        offsets = np.bincount((weak[wrong] - y[wrong]) % 10, minlength=10)
        assert offsets[0] == 0
        assert np.allclose(offsets[1:] / wrong.sum(), 1 / 9, atol=0.01)


@pytest.mark.parametrize("classes", [DIGIT_CLASSES, FASHION_CLASSES])
def test_confusable_noise_always_names_the_look_alike(classes: tuple[str, ...]) -> None:
    y = truth()
    weak = make_weak_labels(y, classes, 0.25, "confusable", seed=1)
    wrong = weak != y
    assert abs(wrong.mean() - 0.25) < 0.01
    partner = confusion_partner(classes)
    assert (weak[wrong] == partner[y[wrong]]).all()
    # A pairing: no class is its own look-alike, and a look-alike's look-alike is itself.
    assert (partner != np.arange(10)).all() and (partner[partner] == np.arange(10)).all()
    named = {(classes[a], classes[b]) for a, b in enumerate(partner) if a < b}
    assert ("four", "nine") in named or ("t-shirt", "shirt") in named


def test_weak_labels_differ_by_seed_and_repeat_within_one() -> None:
    y = truth()[:1000]
    a, b = (make_weak_labels(y, DIGIT_CLASSES, 0.25, "uniform", seed=s) for s in (0, 1))
    assert (a == make_weak_labels(y, DIGIT_CLASSES, 0.25, "uniform", seed=0)).all()
    assert (a != b).any()


def tiny(tmp_path: Path, **overrides: object) -> BenchConfig:
    fields: dict[str, object] = {
        "dataset": "digits",
        "strategies": ("label-errors", "errors-margin"),
        "budget": 40,
        "step": 20,
        "init": 0,
        "out": tmp_path / "out",
        "epochs": 1,
        "min_steps": 4,
        "pool_size": 200,
        "test_size": 100,
        "seeds": 1,
        "weak_noise": 0.25,
        "noise_kind": "confusable",
        **overrides,
    }
    return BenchConfig(**fields)  # type: ignore[arg-type]


def test_answers_replace_weak_labels_and_weigh_one(tmp_path: Path) -> None:
    config = tiny(tmp_path, weak_noise=0.5)
    data = prepare_data(config)
    pool = WeakPool(config, data, seed=0)
    truth_, weak = data.pool_labels, pool.weak.copy()
    picks = np.flatnonzero(weak != truth_)[:10]  # ten wrong weak labels
    assert len(picks) == 10
    pool.answer(picks)
    rows = pool.rows()
    label, weight = rows["label"].to_numpy(), rows["weight"].to_numpy()
    assert (label[picks] == truth_[picks]).all() and (weight[picks] == 1.0).all()
    rest = np.setdiff1d(np.arange(data.pool_size), picks)
    assert (label[rest] == weak[rest]).all() and (weight[rest] == np.float32(WEAK_WEIGHT)).all()
    assert rows.num_rows == data.pool_size and WEAK_WEIGHT == 0.3  # as `flywheel train`


def test_labels_to_recover_on_a_constructed_curve() -> None:
    n = [0, 30, 60, 90, 120]
    acc = [0.90, 0.92, 0.945, 0.958, 0.97]  # weak 0.90, clean 0.96: 90% of gap = 0.954
    assert labels_to_recover(n, acc, weak=0.90, clean=0.96, fraction=0.9) == 90
    assert labels_to_recover(n, acc, weak=0.90, clean=0.96, fraction=1.0) == 120
    assert labels_to_recover(n, acc, weak=0.90, clean=0.99, fraction=0.9) is None
    assert labels_to_recover(n, acc, weak=0.96, clean=0.95, fraction=0.9) == 0  # no gap


def test_summary_reads_the_mean_curve_over_seeds() -> None:
    # Seed 0 crosses 0.954 at 60, seed 1 only at 90; their mean (0.95, 0.96) at 90.
    curves = {0: [0.90, 0.93, 0.955, 0.96], 1: [0.90, 0.91, 0.93, 0.96]}
    points = [
        CurvePoint("margin", seed, n, a)
        for seed, accs in curves.items()
        for n, a in zip([0, 30, 60, 90], accs, strict=True)
    ]
    points.append(CurvePoint("margin", 0, 120, 0.99))  # only one seed got there: ignored
    summary = summarize_weak(points, [0.89, 0.91], [0.95, 0.97])
    assert summary["weak_only_accuracy"] == pytest.approx(0.90)
    assert summary["clean_accuracy"] == pytest.approx(0.96)
    assert summary["clean_accuracy_se"] == pytest.approx(0.01)
    entry = summary["strategies"]["margin"]
    assert entry["labels_to_recover_90"] == 90 and entry["labels_to_recover_100"] == 90
    assert [row[0] for row in entry["mean_curve"]] == [0, 30, 60, 90]


def test_tiny_weak_run_on_digits(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_benchmark(tiny(tmp_path), progress=lines.append)
    assert [p.n_labels for p in result.points] == [0, 20, 40] * 2
    # Round 0 is the weak-only network for every strategy (init 0): one accuracy.
    assert {p.accuracy for p in result.points if p.n_labels == 0} == {
        result.weak_only_accuracies[0]
    }
    assert any(line.startswith("[weak only seed 0]") for line in lines)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert 0 < summary["weak_only_accuracy"] <= 1 and 0 < summary["clean_accuracy"] <= 1
    for entry in summary["strategies"].values():
        assert {"labels_to_95", "labels_to_recover_90", "mean_curve"} <= set(entry)
        assert entry["labels_to_recover_90"] in (None, 0, 20, 40)
    assert (tmp_path / "out" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weak_noise": 1.0}, "--weak-noise must be in [0, 1)"),
        ({"weak_noise": -0.1}, "--weak-noise must be in [0, 1)"),
        ({"noise_kind": "gaussian"}, "--noise-kind 'gaussian' is unknown; valid kinds: uniform"),
        ({"weak_noise": None, "strategies": ("random",)}, "--init must be at least 1, got 0"),
        ({"weak_noise": None, "init": 20}, "picks samples to verify, not to label"),
        (
            {"weak_noise": None, "init": 20, "strategies": ("errors-margin",)},
            "strategy 'errors-margin' reads weak labels; give --weak-noise",
        ),
    ],
)
def test_bad_weak_input(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        tiny(tmp_path, **overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--weak-noise", "1.5"], "--weak-noise must be in [0, 1)"),
        (["--weak-noise", "0.25", "--noise-kind", "swap"], "--noise-kind 'swap' is unknown"),
    ],
)
def test_cli_bad_noise_is_one_line_and_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    out = tmp_path / "x"
    args = ["bench", "active-learning", "--dataset", "digits", "--strategies", "random"]
    args += ["--budget", "20", "--step", "10", "--init", "0", "--out", str(out), *flags]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert err.startswith("flywheel: error: ") and err.count("\n") == 1 and message in err
    assert not out.exists()
