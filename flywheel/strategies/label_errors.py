"""Probable label errors (confident learning; Northcutt et al. 2021): samples whose weak
label the model confidently contradicts.

Class k's threshold is the mean self-confidence p(k|x) over the samples weakly labelled
k (over the samples predicted k when no sample carries weak label k; 1 when neither).
A sample is flagged when the most probable class among those reaching their threshold
is not its weak label; flags are ranked by the margin of contradiction
p(suspect|x) - p(weak label|x).
"""

from __future__ import annotations

import numpy as np

from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, IntArray, Pool

# Unflagged samples still fill the budget, ranked after every flagged one: their margin
# in [-1, 1] is shifted below -1 (to [-4, -2]), and samples without a weak label
# (nothing to contradict) come last, at -5.
_UNFLAGGED_SHIFT = 3.0
_NO_WEAK_LABEL = -5.0


class LabelErrors(Strategy):
    """Scores >= -1 are flagged label errors (the margin of contradiction); scores below
    fill the budget when there are fewer flags than picks."""

    name = "label-errors"
    requires = ("probs", "weak_labels")
    task_kind = "verify"

    def _score(self, pool: Pool) -> FloatArray:
        p, weak = pool.probs, pool.weak_labels  # (N, C), (N,)
        assert p is not None and weak is not None
        rows = np.arange(len(p))
        has_label = weak >= 0
        label = np.where(has_label, weak, 0)  # (N,) a safe index; masked out below
        confident = p >= per_class_thresholds(p, weak)  # (N, C)
        suspect = np.where(confident, p, -1).argmax(axis=1)  # (N,)
        flagged = has_label & confident.any(axis=1) & (suspect != label)
        others = p.copy()
        others[rows, label] = -1
        p_label = p[rows, label]
        margin = np.where(flagged, p[rows, suspect], others.max(axis=1)) - p_label  # (N,)
        unflagged = np.where(has_label, margin - _UNFLAGGED_SHIFT, _NO_WEAK_LABEL)
        return np.where(flagged, margin, unflagged)


def per_class_thresholds(probs: FloatArray, weak_labels: IntArray) -> FloatArray:
    """(C,) mean self-confidence per class: over the samples weakly labelled k, else over
    the samples predicted k, else 1."""
    n_classes = probs.shape[1]
    by_weak = _mean_self_confidence(probs, weak_labels, n_classes)
    by_pred = _mean_self_confidence(probs, probs.argmax(axis=1), n_classes)
    return np.where(np.isnan(by_weak), np.where(np.isnan(by_pred), 1.0, by_pred), by_weak)


def _mean_self_confidence(probs: FloatArray, labels: IntArray, n_classes: int) -> FloatArray:
    """(C,) mean of probs[i, labels[i]] per class over labels >= 0; NaN for an empty class."""
    keep = labels >= 0
    lab = labels[keep]
    totals = np.bincount(lab, weights=probs[keep, lab], minlength=n_classes)
    counts = np.bincount(lab, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals / counts
