"""The demo's HTML report: accuracy per round (a PNG chart and a table), annotator
quality on gold, and the promoted model's confusion matrix. One file that opens from
disk, with its chart beside it."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_report(dest: Path, results: Sequence[Any], annotators: Sequence[tuple[str, float | None, float | None]],
                 confusion: str, links: Sequence[tuple[str, str, str]] = ()) -> Path:  # fmt: skip
    """Write ``dest/index.html`` and ``dest/accuracy.png``; returns the HTML path.
    ``links``: (title, path relative to ``dest``, one-line summary) of the data reports."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dest.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.plot([r.round for r in results], [r.accuracy for r in results], marker="o")
    for r in results:
        ax.annotate(f"{r.version}\n{r.status}", (r.round, r.accuracy), fontsize=7,
                    textcoords="offset points", xytext=(0, 6), ha="center")  # fmt: skip
    ax.set_xticks([r.round for r in results])
    ax.margins(x=0.1, y=0.35)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy on the clean test split")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(dest / "accuracy.png")
    plt.close(fig)
    rows = "".join(
        f"<tr><td>{r.round}</td><td>{r.version}</td><td>{r.status}</td><td>{r.accuracy:.3f}</td>"
        f"<td>{r.labels}</td><td>{html.escape(r.reason)}</td></tr>"
        for r in results
    )
    people = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{_pct(gold)}</td><td>{_pct(est)}</td></tr>"
        for name, gold, est in annotators
    )
    reports = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(title)}</a>: {html.escape(line)}</li>'
        for title, href, line in links
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>flywheel demo</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}pre{{background:#f6f6f6;padding:1em}}</style>
</head><body><h1>flywheel demo</h1>
<h2>Accuracy per round</h2><img src="accuracy.png" alt="accuracy per round">
<table><tr><th>round</th><th>model</th><th>status</th><th>test accuracy</th><th>labels</th><th>reason</th></tr>{rows}</table>
<h2>Annotators on gold tasks</h2>
<table><tr><th>annotator</th><th>accuracy on gold</th><th>Dawid-Skene estimate</th></tr>{people}</table>
<h2>Look at the data</h2><ul>{reports}</ul>
<h2>Confusion of the promoted model</h2><pre>{html.escape(confusion)}</pre>
</body></html>"""
    path = dest / "index.html"
    path.write_text(page)
    return path


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"
