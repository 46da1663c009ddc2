"""BADGE (Ash et al. 2020): k-means++ seeding on gradient embeddings, so the picks are
both uncertain (long gradients) and diverse (far apart in gradient space).

The gradient embedding of sample i is g_i = (p_i - onehot(argmax p_i)) ⊗ x_i, a C*D
vector. It is never built: with a_i = p_i - onehot(argmax p_i),

    ||g_i - g_j||² = ||a_i||² ||x_i||² + ||a_j||² ||x_j||² - 2 (a_i·a_j)(x_i·x_j),

so each pick costs one (N, D) and one (C, N) matvec plus a few (N,) passes. Memory
beyond the inputs is the (C, N) float32 matrix ``a`` and a few (N,) arrays: about 60 MB
for N = 1,000,000, C = 10, where materialising g would take N*C*D*4 bytes = 5.1 GB at
D = 128.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from flywheel.strategies._math import row_sq_norms
from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, IntArray, Pool


class Badge(Strategy):
    """The first pick has the longest gradient embedding; each next one is drawn with
    probability proportional to its squared distance to the nearest pick so far.
    Scores are those distances at pick time (the first: its gradient norm)."""

    name = "badge"
    requires = ("probs", "embeddings")

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        assert pool.probs is not None and pool.embeddings is not None
        x = pool.embeddings  # (N, D)
        a = pool.probs.astype(x.dtype)  # (N, C), a copy we turn into p - onehot
        a[np.arange(len(a)), a.argmax(axis=1)] -= 1
        g_sq = row_sq_norms(a) * row_sq_norms(x)  # (N,) ||g_i||²
        a_t = np.ascontiguousarray(a.T)  # (C, N): a[j] @ a_t streams, a @ a[j] does not
        del a
        # (N + pad,) squared distance to the nearest pick; the zero pad lets sampling
        # sum it in (blocks, _BLOCK) without a copy.
        weights = np.zeros(-(-len(x) // _BLOCK) * _BLOCK, dtype=g_sq.dtype)
        min_d = weights[: len(x)]
        min_d[:] = np.inf
        chosen = np.zeros(len(x), dtype=bool)
        picks = np.empty(budget, dtype=np.int64)
        scores = np.empty(budget, dtype=np.float64)
        j, score = int(np.argmax(g_sq)), float(g_sq.max())
        for step in range(budget):
            picks[step], scores[step], chosen[j] = j, np.sqrt(score), True
            if step == budget - 1:
                break
            dist = (a_t[:, j] @ a_t) * (x @ x[j])  # (N,) <g_i, g_j>
            dist *= -2
            dist += g_sq
            dist += g_sq[j]
            np.minimum(min_d, np.maximum(dist, 0, out=dist), out=min_d)
            min_d[j] = 0  # rounding must not leave a pick any weight
            j = _d2_sample(weights, chosen, rng)
            score = float(min_d[j])
        return picks, scores


# Sampling sums weights in blocks of this many, then scans one block: two short
# cumsums per pick instead of one over all N.
_BLOCK = 1024


def _d2_sample(weights: FloatArray, chosen: npt.NDArray[np.bool_], rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to ``weights`` (a multiple of
    ``_BLOCK`` long, >= 0, 0 where ``chosen`` and in the pad). When all are 0 (every
    sample left duplicates a pick in gradient space), uniform over those not chosen."""
    blocks = weights.reshape(-1, _BLOCK).sum(axis=1, dtype=np.float64)  # (N / _BLOCK,)
    cum = np.cumsum(blocks)
    if cum[-1] <= 0:
        return int(rng.choice(np.flatnonzero(~chosen)))
    u = rng.random() * cum[-1]
    b = _clamped_search(cum, u, blocks)
    within = weights[b * _BLOCK : (b + 1) * _BLOCK]  # (_BLOCK,)
    u_within = max(u - (cum[b] - blocks[b]), 0.0)  # rounding can dip below the block start
    return b * _BLOCK + _clamped_search(np.cumsum(within, dtype=np.float64), u_within, within)


def _clamped_search(cum: FloatArray, u: float, weights: FloatArray) -> int:
    """The index i with cum[i-1] <= u < cum[i]; when rounding puts u past the end, the
    last index of positive weight (never a zero-weight one)."""
    i = int(np.searchsorted(cum, u, side="right"))
    return i if i < len(cum) else int(np.flatnonzero(weights)[-1])
