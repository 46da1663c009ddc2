"""The embeddings scatter page: one SVG circle per sample at its 2-D projection,
coloured by class, a legend that hides and shows classes, and the sample's thumbnail
and labels on hover."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from flywheel.reports.lakeview import NO_CLASS
from flywheel.reports.page import color_for, render

SIZE = 760  # SVG side, pixels
PAD = 16


def class_colors(classes: list[str]) -> dict[str, str]:
    """Classes by size, largest first, get the palette in order; no class is grey."""
    counts = Counter(classes)
    named = sorted((c for c in counts if c != NO_CLASS), key=lambda c: (-counts[c], c))
    colors = {c: color_for(i) for i, c in enumerate(named)}
    colors[NO_CLASS] = "#b0b7bf"
    return colors


def _screen(coords: np.ndarray) -> np.ndarray:
    """(n, 2) projection -> (n, 2) SVG pixels, aspect kept, y up."""
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    scale = (SIZE - 2 * PAD) / max(float((hi - lo).max()), 1e-9)
    xy = (coords - lo) * scale + PAD
    xy[:, 1] = SIZE - xy[:, 1]
    return xy


def scatter_page(
    title: str, subtitle: str, coords: np.ndarray, points: list[dict[str, Any]]
) -> str:
    """``coords`` (n, 2); ``points`` n dicts with id, cls, pred, conf, thumb, group;
    ``subtitle`` is text, followed by links to the split-cluster page and the
    projector config beside this one."""
    classes = [p["cls"] for p in points]
    colors = class_colors(classes)
    xy = _screen(coords) if len(points) else np.zeros((0, 2))
    circles = [
        (f"{x:.1f}", f"{y:.1f}", colors[p["cls"]], p["cls"])
        for (x, y), p in zip(xy, points, strict=True)
    ]
    counts = Counter(classes)
    legend = [(c, colors[c], counts[c]) for c in colors if c in counts]
    return render("scatter.html.j2", title=title, subtitle=subtitle, size=SIZE,
                  circles=circles, legend=legend, points=points)  # fmt: skip
