"""k-center greedy (core-set; Sener & Savarese 2018): pick points that cover the pool.

Each pick is the sample farthest from every center chosen so far (and from the already
labelled samples, when the pool carries ``labelled_embeddings``: under ``SkipKnown``,
as ``flywheel select`` runs it, those are the labelled and queued samples), which
greedily 2-approximates the smallest covering radius.

The greedy loop is sequential, but its next picks are almost always among the points
that are farthest *now*: a new center only lowers the distances of its own
neighbourhood. So the loop is first run ahead on a shortlist of the farthest points
(their mutual distances only), and one GEMM computes the predicted picks' dot products
with the whole pool, reading the (N, D) embeddings once for up to ``_AHEAD`` picks
instead of once per pick (a matvec is memory-bound; the GEMM is not). A pick whose
row was not computed ahead starts a new batch. The picks are exactly the sequential
algorithm's: every pick is still the argmax over all N of the updated distances.

Memory beyond the embeddings: ``_AHEAD`` (N,) rows of dot products and three (N,)
arrays, about 150 MB for N = 1,000,000 (the embeddings themselves are 512 MB at
D = 128 float32). Seeding from M labelled centers costs O(N * M * D) time in blocks of
16 MiB.
"""

from __future__ import annotations

import numpy as np

from flywheel.strategies._math import min_sq_dist, row_sq_norms
from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, IntArray, Pool

# Predicted picks whose dot products one GEMM computes ahead, and how many of the
# farthest points the prediction considers per predicted pick.
_AHEAD = 32
_SHORTLIST = 8


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
    scratch = np.empty_like(min_d)  # (N,)
    step, j = 0, first
    while step < budget:
        ahead = _predict(x, x_sq, min_d, min(_AHEAD, budget - step))
        if j not in ahead:  # ties: the argmax is the next pick whatever was predicted
            ahead = np.concatenate([[j], ahead[:-1]])
        dots = x[ahead] @ x.T  # (A, N): one pass over the embeddings for A candidates
        row_of = {int(c): r for r, c in enumerate(ahead)}
        while step < budget and j in row_of:
            picks[step] = j
            scores[step] = np.sqrt(min_d[j])
            # ||x_i - x_j||² = ||x_i||² + ||x_j||² - 2 x_i·x_j, clipped at 0 (rounding)
            np.multiply(dots[row_of[j]], -2, out=scratch)
            scratch += x_sq
            scratch += x_sq[j]
            np.maximum(scratch, 0, out=scratch)
            np.minimum(min_d, scratch, out=min_d)
            # Below every real distance, so j is never picked twice even when duplicates
            # of it leave zeros behind.
            min_d[j] = -1
            step += 1
            j = int(np.argmax(min_d))
    return picks, scores


def _predict(x: FloatArray, x_sq: FloatArray, min_d: FloatArray, k: int) -> IntArray:
    """(<= k,) the picks the greedy loop will probably make next, the next one first.

    The greedy is run ahead on the ``_SHORTLIST * k`` points farthest from the centers,
    with their mutual distances only (a small Gram matrix): while the true traversal
    stays inside that shortlist, the prediction is exact.
    """
    m = min(len(min_d), _SHORTLIST * k)
    top = np.argpartition(min_d, len(min_d) - m)[len(min_d) - m :] if m < len(min_d) else None
    top = np.arange(len(min_d)) if top is None else top
    top = top[min_d[top] >= 0]  # never a point already picked
    local = min_d[top].astype(np.float64)  # (M,)
    gram = x[top] @ x[top].T  # (M, M)
    sq = x_sq[top]
    order: list[int] = []
    for _ in range(min(k, len(top))):
        r = int(np.argmax(local))
        order.append(r)
        local = np.minimum(local, np.maximum(sq + sq[r] - 2 * gram[r], 0))
        local[r] = -1
    return top[order].astype(np.int64)
