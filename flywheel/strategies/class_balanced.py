"""Class-balanced quotas: split the budget evenly across predicted classes."""

from __future__ import annotations

import numpy as np

from flywheel.strategies.base import Modifier
from flywheel.strategies.pool import FloatArray, IntArray, Pool


class ClassBalanced(Modifier):
    """Each predicted class (argmax of ``probs``) gets an equal share of the budget, as
    far as it has samples (a class short of its share passes the rest on; a remainder
    that cannot split evenly goes to classes drawn at random). The inner strategy ranks
    each class's samples; the result interleaves the classes rank by rank, so any
    prefix of it is balanced too.

    The inner strategy sees one class's samples as its whole pool, so statistics it
    takes over the pool (label-errors' thresholds, prior-shift's EM) become per-class:
    wrap ``PriorShift`` around ``ClassBalanced``, not inside it (``compose`` does)."""

    label = "class-balanced"
    requires = ("probs",)

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        assert pool.probs is not None
        predicted = pool.probs.argmax(axis=1)  # (N,)
        counts = np.bincount(predicted, minlength=pool.probs.shape[1])  # (C,)
        quotas = split_budget(counts, budget, rng)
        picks, scores, within = [], [], []
        for k in np.flatnonzero(quotas):
            members = np.flatnonzero(predicted == k)  # (n_k,)
            idx, sc = self.inner._choose(pool.subset(members), int(quotas[k]), rng)
            picks.append(members[idx])
            scores.append(sc)
            within.append(np.arange(len(idx)))
        order = np.argsort(np.concatenate(within), kind="stable")  # rank 0 of each, then 1
        return np.concatenate(picks)[order], np.concatenate(scores)[order]


def split_budget(counts: IntArray, budget: int, rng: np.random.Generator) -> IntArray:
    """(C,) quotas summing to ``budget`` <= counts.sum(), each <= its count (C,), as even
    as the counts allow (water-filling). At most C + 1 rounds."""
    quotas = np.zeros_like(counts)
    left = budget
    while left:
        open_ = np.flatnonzero(quotas < counts)
        share = left // len(open_)
        if share == 0:  # fewer units left than open classes: one each to random ones
            quotas[rng.choice(open_, size=left, replace=False)] += 1
            break
        add = np.minimum(share, counts[open_] - quotas[open_])
        quotas[open_] += add
        left -= int(add.sum())
    return quotas
