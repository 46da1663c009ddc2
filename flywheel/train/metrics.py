"""Evaluation metrics from counts that add up across data-parallel workers.

Each worker counts on its shard (a confusion matrix and calibration bins), the counts
are summed (``all_reduce``), and ``summarize`` turns the totals into the metrics JSON
the ``models`` table stores::

    {"n": 60, "accuracy": 0.93, "macro_f1": 0.92, "ece": 0.04,
     "per_class": {"cat": {"precision": .., "recall": .., "f1": .., "support": 30}, ...},
     "confusion": {"labels": ["cat", "dog"], "matrix": [[28, 2], [2, 28]]},
     "calibration": {"bins": 15, "count": [...], "confidence": [...], "accuracy": [...]}}

Confusion rows are the true class, columns the predicted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

N_BINS = 15  # equal-width confidence bins for the expected calibration error


def count_confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) true and (N,) predicted class indices -> (K, K) int64 counts, rows true.

    >>> count_confusion(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    flat = labels.astype(np.int64) * num_classes + preds.astype(np.int64)
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def count_calibration(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """(N,) top-1 probability and (N,) 0/1 correctness -> (3, N_BINS) float64:
    per bin the count, the sum of confidences and the number correct."""
    bins = np.minimum((confidence * N_BINS).astype(np.int64), N_BINS - 1)  # (N,)
    return np.stack(
        [
            np.bincount(bins, minlength=N_BINS).astype(np.float64),
            np.bincount(bins, weights=confidence, minlength=N_BINS),
            np.bincount(bins, weights=correct.astype(np.float64), minlength=N_BINS),
        ]
    )


def summarize(
    confusion: np.ndarray, calibration: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Totals -> the metrics dict (layout in the module docstring).

    >>> m = summarize(np.array([[3, 1], [0, 4]]), np.zeros((3, N_BINS)), ["a", "b"])
    >>> m["accuracy"], m["per_class"]["a"]["recall"], m["per_class"]["b"]["precision"]
    (0.875, 0.75, 0.8)
    """
    tp = np.diag(confusion).astype(np.float64)  # (K,)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)  # (K,), (K,)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    n = int(confusion.sum())
    count, conf_sum, correct_sum = calibration  # (N_BINS,) each
    filled = count > 0
    gap = np.abs(conf_sum[filled] - correct_sum[filled])  # |conf - acc| * count per bin
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[support > 0].mean()) if (support > 0).any() else 0.0,
        "ece": float(gap.sum() / n) if n else 0.0,
        "per_class": {
            name: {
                "precision": round(float(precision[i]), 6),
                "recall": round(float(recall[i]), 6),
                "f1": round(float(f1[i]), 6),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion": {"labels": list(class_names), "matrix": confusion.astype(int).tolist()},
        "calibration": {
            "bins": N_BINS,
            "count": count.astype(int).tolist(),
            "confidence": _ratio(conf_sum, count),
            "accuracy": _ratio(correct_sum, count),
        },
    }


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [round(float(a / b), 6) if b else None for a, b in zip(num, den, strict=True)]


def format_confusion(metrics: dict[str, Any], compact: bool = False) -> str:
    """The confusion matrix as a labelled text table: rows true, columns predicted.
    ``compact`` shortens the column labels to 5 characters and drops the per-class
    scores; the full table ends each row with precision, recall, F1 and support.

    >>> m = summarize(np.array([[3, 1], [0, 4]]), np.zeros((3, N_BINS)), ["cat", "dog"])
    >>> print(format_confusion(m, compact=True))
    true\\pred  cat  dog
    cat          3    1
    dog          0    4
    """
    names = metrics["confusion"]["labels"]
    matrix = metrics["confusion"]["matrix"]
    cols = [n[:5] if compact else n for n in names]
    width = max([3, *(len(c) for c in cols), *(len(str(v)) for row in matrix for v in row)])
    first = max(len("true\\pred"), *(len(n) for n in names))
    header = "true\\pred".ljust(first) + "".join(f"  {c:>{width}}" for c in cols)
    if not compact:
        header += "   prec  recall      f1  support"
    lines = [header]
    for name, row in zip(names, matrix, strict=True):
        line = name.ljust(first) + "".join(f"  {v:>{width}}" for v in row)
        if not compact:
            s = metrics["per_class"][name]
            line += (
                f"  {s['precision']:5.3f}  {s['recall']:6.3f}  {s['f1']:6.3f}  {s['support']:7d}"
            )
        lines.append(line)
    return "\n".join(lines)
