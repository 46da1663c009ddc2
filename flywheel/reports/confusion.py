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
from flywheel.reports.page import esc, render_page, write_page


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
    write_page(summary.html, render_page("confusion matrix", _html(summary, labels, delta)))
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


def _cell(value: float, alpha: float, rgb: str, text: str) -> str:
    alpha = float(np.clip(alpha, 0.0, 1.0)) if np.isfinite(alpha) else 0.0
    dark = " style='color:#fff;" if alpha > 0.55 else " style='"
    return f"<td{dark}background:rgba({rgb},{alpha:.2f})'>{esc(text)}</td>"


def _matrix_table(labels: list[str], m: Matrix) -> str:
    rates = m.rates(labels)
    index = {n: i for i, n in enumerate(m.labels)}
    head = "".join(f"<th>{esc(n)}</th>" for n in labels)
    rows = []
    for i, name in enumerate(labels):
        if name not in index:
            rows.append(f'<tr><th class="name">{esc(name)}</th>' + "<td>—</td>" * len(labels))
            continue
        cells = "".join(
            _cell(rates[i, j], rates[i, j], "31,119,180", str(m.counts[index[name], index[n]]))
            if n in index
            else "<td>—</td>"
            for j, n in enumerate(labels)
        )
        rows.append(f'<tr><th class="name">{esc(name)}</th>{cells}</tr>')
    return (
        f'<table class="grid"><tr><th class="name">true \\ predicted</th>{head}</tr>'
        f"{''.join(rows)}</table>"
    )


def _delta_table(labels: list[str], delta: np.ndarray) -> str:
    better = improvement(delta)
    scale = max(1.0, float(np.nanmax(np.abs(better)))) if np.isfinite(better).any() else 1.0
    head = "".join(f"<th>{esc(n)}</th>" for n in labels)
    rows = []
    for i, name in enumerate(labels):
        cells = "".join(
            "<td>—</td>"
            if not np.isfinite(d)
            else _cell(d, abs(b) / scale, "26,127,55" if b > 0 else "207,34,46", f"{d:+.0f}")
            for d, b in zip(delta[i], better[i], strict=True)
        )
        rows.append(f'<tr><th class="name">{esc(name)}</th>{cells}</tr>')
    return (
        f'<table class="grid"><tr><th class="name">true \\ predicted</th>{head}</tr>'
        f"{''.join(rows)}</table>"
    )


def _facts(m: Matrix) -> str:
    r, holdout = m.row, json.loads(m.row["holdout"])
    return (
        f"<b>{esc(m.version)}</b> ({esc(r['status'])}): accuracy {r['accuracy']:.3f}, "
        f"macro-F1 {r['macro_f1']:.3f}, ECE {r['ece']:.3f} on {r['n_eval']} samples "
        f"({esc(holdout.get('kind', '?'))})"
    )


def _per_class(labels: list[str], model: Matrix, against: Matrix | None) -> str:
    cols = ["precision", "recall", "f1", "support"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    if against is not None:
        head += "".join(f"<th>Δ {c}</th>" for c in cols[:3])
    rows = []
    for name in labels:
        mine = model.per_class.get(name)
        theirs = against.per_class.get(name) if against else None
        cells = "".join(f"<td>{_score(mine, c)}</td>" for c in cols)
        if against is not None:
            cells += "".join(
                f"<td>{mine[c] - theirs[c]:+.3f}</td>" if mine and theirs else "<td>—</td>"
                for c in cols[:3]
            )
        rows.append(f'<tr><th class="name">{esc(name)}</th>{cells}</tr>')
    return f'<table class="grid"><tr><th class="name">class</th>{head}</tr>{"".join(rows)}</table>'


def _score(scores: dict[str, float] | None, name: str) -> str:
    if scores is None:
        return "—"
    return str(scores[name]) if name == "support" else f"{scores[name]:.3f}"


def _html(summary: ConfusionSummary, labels: list[str], delta: np.ndarray | None) -> str:
    model, against = summary.model, summary.against
    parts = [
        f'<header class="top"><h1>Confusion matrix of {esc(model.version)}</h1>',
        f"<p>{_facts(model)}</p>",
        f"<p>{_facts(against)}</p>" if against else "",
        "<p>Rows: the true class; columns: the predicted one. Cells count samples; the "
        "shade is the share of the row.</p></header><main>",
        f"<h2>{esc(model.version)}</h2>{_matrix_table(labels, model)}",
    ]
    if against is not None and delta is not None:
        same = model.row["holdout"] == against.row["holdout"]
        note = "" if same else " The two versions were evaluated on different sets."
        parts += [
            f"<h2>{esc(against.version)}</h2>{_matrix_table(labels, against)}",
            f"<h2>Change {esc(model.version)} − {esc(against.version)}</h2>"
            "<p>Percentage points of each true class; green is better (more on the "
            f"diagonal, fewer confusions), red is worse.{note}</p>",
            _delta_table(labels, delta),
            "<p>Largest changes: " + esc(", ".join(summary.changes) or "none") + "</p>",
        ]
    parts += [
        "<h2>Per class</h2>",
        _per_class(labels, model, against),
        f'<h2>Figure</h2><img src="{esc(summary.png.name)}" alt="confusion matrix figure" '
        'style="max-width:100%">',
        "</main>",
    ]
    return "".join(parts)
