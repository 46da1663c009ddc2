"""The benchmark's outputs: curves.csv, summary.json, the learning-curve PNG and the
summary table.

``labels_to_target`` and ``summarize`` are pure functions of curve points, so the
reading of a curve is tested on hand-made numbers.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.bench.config import RECOVER, TARGETS
from flywheel.bench.simulate import CurvePoint

CURVE_COLUMNS = ("strategy", "seed", "n_labels", "accuracy")
BASELINE = "random"  # the strategy the table compares label counts against


def target_key(fraction: float) -> str:
    """summary.json's key for labels to ``fraction`` of full-data accuracy.

    >>> target_key(0.95)
    'labels_to_95'
    """
    return f"labels_to_{round(fraction * 100)}"


def labels_to_target(
    n_labels: Sequence[int], accuracy: Sequence[float], target: float
) -> int | None:
    """The fewest labels at which a curve first reaches ``target`` accuracy, or None
    when it never does within its points (the budget).

    >>> labels_to_target([20, 40, 60], [0.5, 0.91, 0.89], 0.9)
    40
    >>> labels_to_target([20, 40], [0.5, 0.6], 0.9) is None
    True
    """
    for n, acc in sorted(zip(n_labels, accuracy, strict=True)):
        if acc >= target:
            return int(n)
    return None


def median_labels(values: Iterable[int | None]) -> float | None:
    """Median over seeds where a seed that never reached the target counts as
    infinitely many labels; None when the median itself is not reached.

    >>> median_labels([40, None, 60]), median_labels([40, None, None]), median_labels([40, 60])
    (60.0, None, 50.0)
    """
    finite = [math.inf if v is None else float(v) for v in values]
    if not finite:
        return None
    mid = float(np.median(finite))
    return None if math.isinf(mid) or math.isnan(mid) else mid


def summarize(
    points: Sequence[CurvePoint],
    full_data_accuracies: Sequence[float],
    budget: int,
    targets: Sequence[float] = TARGETS,
) -> dict[str, Any]:
    """summary.json's core: the median full-data accuracy and, per strategy (in the
    order first seen), the median labels to each target fraction of it and the median
    accuracy at the budget (None where a seed's curve did not get there)."""
    full = float(np.median(full_data_accuracies))
    curves: dict[str, dict[int, list[CurvePoint]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        curves[p.strategy][p.seed].append(p)
    strategies: dict[str, dict[str, Any]] = {}
    for name, by_seed in curves.items():
        entry: dict[str, Any] = {}
        for fraction in targets:
            reached = [
                labels_to_target([p.n_labels for p in c], [p.accuracy for p in c], fraction * full)
                for c in by_seed.values()
            ]
            entry[target_key(fraction)] = _as_count(median_labels(reached))
        at_budget = [p.accuracy for c in by_seed.values() for p in c if p.n_labels == budget]
        entry["accuracy_at_budget"] = float(np.median(at_budget)) if at_budget else None
        strategies[name] = entry
    return {"full_data_accuracy": full, "strategies": strategies}


def recover_key(fraction: float) -> str:
    """summary.json's key for labels to close ``fraction`` of the gap.

    >>> recover_key(0.9)
    'labels_to_recover_90'
    """
    return f"labels_to_recover_{round(fraction * 100)}"


def labels_to_recover(
    n_labels: Sequence[int], accuracy: Sequence[float], weak: float, clean: float, fraction: float
) -> int | None:
    """The fewest labels at which a curve closes ``fraction`` of the gap from the
    weak-only accuracy to the clean one (None when not within its points). With no gap
    (clean <= weak) there is nothing to close: the curve's first point.

    >>> labels_to_recover([0, 50, 100], [0.80, 0.88, 0.90], weak=0.80, clean=0.90, fraction=0.9)
    100
    >>> labels_to_recover([0, 50], [0.80, 0.85], weak=0.80, clean=0.90, fraction=0.9) is None
    True
    """
    if clean <= weak:  # nothing to recover
        return int(min(n_labels)) if len(n_labels) else None
    return labels_to_target(n_labels, accuracy, weak + fraction * (clean - weak))


def mean_curve(points: Sequence[CurvePoint]) -> list[tuple[int, float, float, int]]:
    """(n_labels, mean accuracy, standard error, seeds) per label count of one
    strategy's points, the SE over seeds (0 for one seed)."""
    by_n: dict[int, list[float]] = defaultdict(list)
    for p in points:
        by_n[p.n_labels].append(p.accuracy)
    return [(n, *mean_se(by_n[n]), len(by_n[n])) for n in sorted(by_n)]


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample SD / sqrt(n); 0 for one value).

    >>> mean_se([0.8, 0.9])
    (0.85, 0.05)
    """
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else 0.0
    return round(float(arr.mean()), 12), round(se, 12)


def summarize_weak(
    points: Sequence[CurvePoint],
    weak_only_accuracies: Sequence[float],
    clean_accuracies: Sequence[float],
    fractions: Sequence[float] = RECOVER,
) -> dict[str, Any]:
    """summary.json's weak-label fields: mean weak-only and clean accuracy (with SEs and
    per seed) and, per strategy, the labels its mean curve needs to close each fraction
    of the gap, and the mean curve itself ([n_labels, mean, se] rows). Only label counts
    every seed reached count, so a run cut short is not read off one lucky seed."""
    weak, weak_se = mean_se(weak_only_accuracies)
    clean, clean_se = mean_se(clean_accuracies)
    by_strategy: dict[str, list[CurvePoint]] = defaultdict(list)
    for p in points:
        by_strategy[p.strategy].append(p)
    strategies: dict[str, dict[str, Any]] = {}
    for name, pts in by_strategy.items():
        seeds = len({p.seed for p in pts})
        curve = [(n, m, se) for n, m, se, k in mean_curve(pts) if k == seeds]
        ns, means = [c[0] for c in curve], [c[1] for c in curve]
        entry: dict[str, Any] = {
            recover_key(f): labels_to_recover(ns, means, weak, clean, f) for f in fractions
        }
        entry["mean_curve"] = [list(c) for c in curve]
        strategies[name] = entry
    return {
        "weak_only_accuracy": weak,
        "weak_only_accuracy_se": weak_se,
        "weak_only_accuracy_per_seed": list(weak_only_accuracies),
        "clean_accuracy": clean,
        "clean_accuracy_se": clean_se,
        "strategies": strategies,
    }


def _as_count(value: float | None) -> int | float | None:
    # A median of an even number of seeds can fall between two label counts.
    return int(value) if value is not None and value.is_integer() else value


def write_curves(path: Path, points: Iterable[CurvePoint]) -> None:
    """curves.csv: one row per point, columns ``CURVE_COLUMNS``."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CURVE_COLUMNS)
        for p in points:
            writer.writerow([p.strategy, p.seed, p.n_labels, f"{p.accuracy:.6f}"])
    tmp.replace(path)  # a reader never sees half a file, even if the run is killed


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2) + "\n")


def format_table(summary: dict[str, Any], targets: Sequence[float] = TARGETS) -> str:
    """The summary as an aligned text table; ``x random`` is a strategy's labels to the
    first target as a fraction of random sampling's (the label-efficiency goal)."""
    keys = [target_key(t) for t in targets]
    base = summary["strategies"].get(BASELINE, {}).get(keys[0])
    header = ["strategy", *keys, "accuracy_at_budget", f"{keys[0]} x {BASELINE}"]
    rows = [header]
    for name, entry in summary["strategies"].items():
        first = entry[keys[0]]
        ratio = f"{first / base:.2f}" if first is not None and base else "-"
        acc = entry["accuracy_at_budget"]
        rows.append(
            [name, *(_cell(entry[k]) for k in keys), "-" if acc is None else f"{acc:.4f}", ratio]
        )
    lines = _align(rows)
    full = f"full-data accuracy {summary['full_data_accuracy']:.4f}"
    if "weak_only_accuracy" in summary:
        return "\n".join([full, *lines, "", format_weak_table(summary)])
    return "\n".join([full, *lines])


def format_weak_table(summary: dict[str, Any], fractions: Sequence[float] = RECOVER) -> str:
    """Weak-label mode: labels to close each fraction of the weak-only -> clean gap,
    the mean accuracy at the budget (± SE) and the first fraction's count over random's."""
    keys = [recover_key(f) for f in fractions]
    base = summary["strategies"].get(BASELINE, {}).get(keys[0])
    rows = [["strategy", *keys, "accuracy_at_budget", f"{keys[0]} x {BASELINE}"]]
    for name, entry in summary["strategies"].items():
        first = entry[keys[0]]
        ratio = f"{first / base:.2f}" if first is not None and base else "-"
        last = entry["mean_curve"][-1] if entry["mean_curve"] else None
        acc = "-" if last is None else f"{last[1]:.4f} ± {last[2]:.4f} @{last[0]}"
        rows.append([name, *(_cell(entry[k]) for k in keys), acc, ratio])
    lines = _align(rows)
    head = (
        f"weak-only accuracy {summary['weak_only_accuracy']:.4f} "
        f"± {summary['weak_only_accuracy_se']:.4f}, clean accuracy "
        f"{summary['clean_accuracy']:.4f} ± {summary['clean_accuracy_se']:.4f} (mean ± SE)"
    )
    return "\n".join([head, *lines])


def _align(rows: list[list[str]]) -> list[str]:
    """Rows of cells as lines: the first column left-aligned, the others right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]


def _cell(value: float | None) -> str:
    if value is None:
        return "not reached"
    return f"{value:g}"


def plot_curves(
    path: Path,
    points: Sequence[CurvePoint],
    levels: dict[str, float],
    title: str,
    band: str = "minmax",
) -> None:
    """Mean test accuracy over seeds per strategy, a band across seeds (min-max, or
    ``band="se"``: ± one standard error) and a dashed line at each of ``levels``
    (label -> accuracy: target fractions of full data, or weak-only and clean)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    by_strategy: dict[str, list[CurvePoint]] = defaultdict(list)
    for p in points:
        by_strategy[p.strategy].append(p)
    for name, pts in by_strategy.items():
        ns = sorted({p.n_labels for p in pts})
        accs = [np.asarray([p.accuracy for p in pts if p.n_labels == n]) for n in ns]
        mean = np.asarray([a.mean() for a in accs])
        (line,) = ax.plot(ns, mean, label=name, linewidth=1.4)
        if band == "se":
            se = np.asarray([mean_se(list(a))[1] for a in accs])
            lo, hi = mean - se, mean + se
        else:
            lo, hi = np.asarray([a.min() for a in accs]), np.asarray([a.max() for a in accs])
        ax.fill_between(ns, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    for label, level in levels.items():
        ax.axhline(level, color="grey", linestyle="--", linewidth=0.8)
        ax.annotate(
            label,
            (0.01, level),  # left: the curves are low there
            xycoords=("axes fraction", "data"),
            ha="left",
            va="bottom",
            fontsize=7,
            color="grey",
        )
    ax.set_xlabel("labels")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
