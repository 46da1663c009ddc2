"""``flywheel report confusion``: a model's labelled confusion matrix as PNG and HTML,
and the change from another version.

Matrices come from the ``models`` table (``metrics.confusion``: rows are the true
class, columns the predicted one). Two versions may know different classes and may
have been evaluated on different sets, so the change is taken on row-normalised rates:
"of the true X, how many percentage points more (or fewer) went to Y". On the diagonal
more is better; off it, less is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.lake import Lake
from flywheel.reports.confusion_plot import plot_confusion
from flywheel.reports.lakeview import model_row
from flywheel.reports.matrix import Matrix, aligned_labels, change, improvement
from flywheel.reports.page import render, write_page


@dataclass(frozen=True)
class ConfusionConfig:
    out: Path  # FILE.html or FILE.png; both are written, side by side
    model: str = "promoted"
    against: str | None = None

    def __post_init__(self) -> None:
        if self.out.suffix not in (".html", ".png"):
            raise ConfigError(
                f"--out {self.out} must end in .html or .png (both files are written)"
            )


@dataclass
class ConfusionSummary:
    html: Path
    png: Path
    model: Matrix
    against: Matrix | None = None
    changes: list[str] = field(default_factory=list)

    def line(self) -> str:
        m = self.model
        text = f"confusion: {m.version} accuracy {m.row['accuracy']:.3f} on {m.row['n_eval']}"
        if self.against is not None:
            a = self.against
            diff = 100 * (m.row["accuracy"] - a.row["accuracy"])
            text += f" vs {a.version} {a.row['accuracy']:.3f} ({diff:+.1f} pp)"
            text += "; biggest changes: " + (", ".join(self.changes[:3]) or "none")
        return f"{text} -> {self.html}, {self.png}"


def confusion_report(settings: Settings, config: ConfusionConfig) -> ConfusionSummary:
    lake = Lake(settings)
    model = Matrix.from_row(_row(lake, config.model))
    against = Matrix.from_row(_row(lake, config.against)) if config.against else None
    summary = ConfusionSummary(config.out.with_suffix(".html"), config.out.with_suffix(".png"), model, against)  # fmt: skip
    labels = aligned_labels(model, against)
    delta = change(model, against, labels) if against else None
    if delta is not None:
        summary.changes = _largest_changes(labels, delta)
    summary.png.parent.mkdir(parents=True, exist_ok=True)
    plot_confusion(summary.png, labels, model, against, delta)
    write_page(summary.html, _html(summary, labels, delta))
    return summary


def _row(lake: Lake, version: str) -> dict[str, Any]:
    row = model_row(lake, version)
    assert row is not None  # required=True raises instead
    return row


def _largest_changes(labels: list[str], delta: np.ndarray, n: int = 5) -> list[str]:
    """The off-diagonal cells that changed most, as ``true->pred +x pp``."""
    off = np.where(np.eye(len(labels), dtype=bool), np.nan, delta)
    order = np.argsort(-np.nan_to_num(np.abs(off), nan=-1.0), axis=None)[:n]
    cells = [np.unravel_index(k, off.shape) for k in order]
    return [
        f"{labels[i]}->{labels[j]} {off[i, j]:+.0f} pp"
        for i, j in cells
        if np.isfinite(off[i, j]) and abs(off[i, j]) >= 0.5
    ]


@dataclass(frozen=True)
class _Cell:
    """One shaded cell of a grid: ``rgb`` at opacity ``alpha`` (0..1)."""

    text: str
    alpha: float
    rgb: str  # "r,g,b"

    @classmethod
    def shaded(cls, text: str, alpha: float, rgb: str) -> _Cell:
        return cls(text, float(np.clip(alpha, 0.0, 1.0)) if np.isfinite(alpha) else 0.0, rgb)


Grid = list[tuple[str, list[_Cell | None]]]  # (true class, its cells; None shows "—")


def _matrix_grid(labels: list[str], m: Matrix) -> Grid:
    rates = m.rates(labels)
    index = {n: i for i, n in enumerate(m.labels)}
    rows: Grid = []
    for i, name in enumerate(labels):
        cells: list[_Cell | None] = [
            _Cell.shaded(str(m.counts[index[name], index[n]]), rates[i, j], "31,119,180")
            if name in index and n in index
            else None
            for j, n in enumerate(labels)
        ]
        rows.append((name, cells))
    return rows


def _delta_grid(labels: list[str], delta: np.ndarray) -> Grid:
    better = improvement(delta)
    scale = max(1.0, float(np.nanmax(np.abs(better)))) if np.isfinite(better).any() else 1.0
    return [
        (name, [
            _Cell.shaded(f"{d:+.0f}", abs(b) / scale, "26,127,55" if b > 0 else "207,34,46")
            if np.isfinite(d)
            else None
            for d, b in zip(delta[i], better[i], strict=True)
        ])
        for i, name in enumerate(labels)
    ]  # fmt: skip


def _facts(m: Matrix) -> dict[str, Any]:
    return m.row | {
        "version": m.version,
        "holdout_kind": json.loads(m.row["holdout"]).get("kind", "?"),
    }


_SCORES = ("precision", "recall", "f1", "support")


def _per_class(
    labels: list[str], model: Matrix, against: Matrix | None
) -> list[tuple[str, list[str]]]:
    """(class, its cells as text): the model's scores, then the change from ``against``."""
    rows = []
    for name in labels:
        mine = model.per_class.get(name)
        theirs = against.per_class.get(name) if against else None
        cells = [_score(mine, c) for c in _SCORES]
        if against is not None:
            cells += [
                f"{mine[c] - theirs[c]:+.3f}" if mine and theirs else "—" for c in _SCORES[:3]
            ]
        rows.append((name, cells))
    return rows


def _score(scores: dict[str, float] | None, name: str) -> str:
    if scores is None:
        return "—"
    return str(scores[name]) if name == "support" else f"{scores[name]:.3f}"


def _html(summary: ConfusionSummary, labels: list[str], delta: np.ndarray | None) -> str:
    model, against = summary.model, summary.against
    grids = [(model.version, _matrix_grid(labels, model))]
    if against is not None:
        grids.append((against.version, _matrix_grid(labels, against)))
    return render(
        "confusion.html.j2",
        model=_facts(model),
        against=_facts(against) if against else None,
        labels=labels,
        grids=grids,
        delta=_delta_grid(labels, delta) if against is not None and delta is not None else None,
        same_holdout=against is None or model.row["holdout"] == against.row["holdout"],
        changes=summary.changes,
        scores=_SCORES,
        per_class=_per_class(labels, model, against),
        png=summary.png.name,
    )
