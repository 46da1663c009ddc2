"""The confusion figure (PNG): one heat map per version and, for two, their change.

Drawn on a bare ``matplotlib.figure.Figure`` (Agg), so no global pyplot state and no
display are touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flywheel.reports.matrix import Matrix, improvement

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap


def plot_confusion(
    path: Path,
    labels: list[str],
    model: Matrix,
    against: Matrix | None,
    delta: np.ndarray | None,
) -> Path:
    from matplotlib.figure import Figure

    panels = 1 if against is None else 3
    side = max(4.0, 0.45 * len(labels) + 1.8)  # inches per panel
    fig = Figure(figsize=(side * panels, side + 0.4), dpi=110, layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    _counts(axes[0], labels, model)
    if against is not None and delta is not None:
        _counts(axes[1], labels, against)
        _change(axes[2], labels, delta, f"change {model.version} − {against.version}")
    fig.savefig(path, format="png")
    return path


def _cmap(name: str) -> Colormap:
    """``name`` with grey for cells a version cannot fill (a class it does not know)."""
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="#d0d7de")


def _ticks(ax: Axes, labels: list[str]) -> None:
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")


def _counts(ax: Axes, labels: list[str], m: Matrix) -> None:
    rates = m.rates(labels)  # (K, K) share of each row
    ax.imshow(np.ma.masked_invalid(rates), cmap=_cmap("Blues"), vmin=0.0, vmax=1.0)
    index = {n: i for i, n in enumerate(m.labels)}
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if a in index and b in index:
                count = int(m.counts[index[a], index[b]])
                color = "white" if rates[i, j] > 0.55 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_title(
        f"{m.version}: accuracy {m.row['accuracy']:.3f} (n={m.row['n_eval']})", fontsize=10
    )
    _ticks(ax, labels)


def _change(ax: Axes, labels: list[str], delta: np.ndarray, title: str) -> None:
    better = improvement(delta)  # (K, K) positive = better
    scale = max(1.0, float(np.nanmax(np.abs(better)))) if np.isfinite(better).any() else 1.0
    ax.imshow(np.ma.masked_invalid(better), cmap=_cmap("RdYlGn"), vmin=-scale, vmax=scale)
    for i in range(len(labels)):
        for j in range(len(labels)):
            d = delta[i, j]
            if np.isfinite(d) and abs(d) >= 0.5:
                ax.text(j, i, f"{d:+.0f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"{title}\n(% of true class; green better, grey: class unknown)", fontsize=10)
    _ticks(ax, labels)
