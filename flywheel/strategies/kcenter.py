"""k-center greedy (core-set; Sener & Savarese 2018): pick points that cover the pool.

Each pick is the sample farthest from every center chosen so far (and from the already
labelled samples, when the pool carries ``labelled_embeddings``), which greedily
2-approximates the smallest covering radius.

Cost per pick: one (N, D) @ (D,) matvec plus a few (N,) passes, so time is
O(budget * N * D) and memory is the embeddings plus three (N,) arrays: about 540 MB
for N = 1,000,000, D = 128 float32. Seeding from M labelled centers costs
O(N * M * D) time in blocks of 16 MiB.
"""

from __future__ import annotations

import numpy as np

from flywheel.strategies._math import min_sq_dist, row_sq_norms, sq_dist_to_one
from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, IntArray, Pool


class KCenterGreedy(Strategy):
    """Scores are each pick's distance to its nearest earlier center (non-increasing);
    ``inf`` for the first pick when nothing is labelled (that one is random)."""

    name = "kcenter"
    requires = ("embeddings",)

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        x = pool.embeddings  # (N, D)
        assert x is not None
        x_sq = row_sq_norms(x)  # (N,)
        labelled = pool.labelled_embeddings
        if labelled is not None and len(labelled):
            min_d = min_sq_dist(x, x_sq, labelled)  # (N,) to the nearest labelled sample
            first = int(np.argmax(min_d))
        else:
            min_d = np.full(len(x), np.inf, dtype=x_sq.dtype)
            first = int(rng.integers(len(x)))
        return _greedy(x, x_sq, min_d, first, budget)


def _greedy(
    x: FloatArray, x_sq: FloatArray, min_d: FloatArray, first: int, budget: int
) -> tuple[IntArray, FloatArray]:
    """Farthest-first traversal from ``first``; updates ``min_d`` (N,) in place."""
    picks = np.empty(budget, dtype=np.int64)
    scores = np.empty(budget, dtype=np.float64)
    j = first
    for step in range(budget):
        picks[step] = j
        scores[step] = np.sqrt(min_d[j])
        np.minimum(min_d, sq_dist_to_one(x, x_sq, j), out=min_d)
        # Below every real distance, so j is never picked twice even when duplicates
        # of it leave zeros behind.
        min_d[j] = -1
        j = int(np.argmax(min_d))
    return picks, scores
