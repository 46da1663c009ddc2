"""The embeddings scatter page: one SVG circle per sample at its 2-D projection,
coloured by class, a legend that hides and shows classes, and the sample's thumbnail
and labels on hover."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from flywheel.reports.assets import SCATTER_CSS, SCATTER_JS
from flywheel.reports.lakeview import NO_CLASS
from flywheel.reports.page import color_for, esc, json_script, render_page

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
    """``coords`` (n, 2); ``points`` n dicts with id, cls, pred, conf, thumb, group."""
    classes = [p["cls"] for p in points]
    colors = class_colors(classes)
    xy = _screen(coords) if len(points) else np.zeros((0, 2))
    circles = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colors[p["cls"]]}" '
        f'data-i="{i}" data-class="{esc(p["cls"])}"></circle>'
        for i, ((x, y), p) in enumerate(zip(xy, points, strict=True))
    )
    counts = Counter(classes)
    legend = "".join(
        f'<button type="button" data-class="{esc(c)}"><span class="swatch" '
        f'style="background:{colors[c]}"></span>{esc(c)} ({counts[c]})</button>'
        for c in colors
        if c in counts
    )
    body = (
        f'<header class="top"><h1>{esc(title)}</h1><p>{subtitle}</p>'
        "<p>Hover a point to see the sample; click a class to hide or show it. "
        '<span id="shown" class="muted"></span></p></header><main><div class="layout">'
        f'<svg class="scatter" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}" '
        f'role="img" aria-label="embedding scatter">{circles}</svg>'
        f'<div class="legend">{legend}</div></div><div id="tip"></div>'
        f"{json_script('points', points)}</main>"
    )
    return render_page(title, body, SCATTER_CSS, SCATTER_JS)
