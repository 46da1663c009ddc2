"""The demo's HTML report: accuracy per round (a PNG chart and a table), annotator
quality on gold, and the promoted model's confusion matrix. One file that opens from
disk, with its chart beside it; the markup is
flywheel/reports/templates/demo.html.j2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flywheel.reports import render


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
    page = render("demo.html.j2", results=results, annotators=annotators, links=links,
                  confusion=confusion)  # fmt: skip
    path = dest / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
