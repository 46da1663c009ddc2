"""BADGE (Ash et al. 2020): k-means++ seeding on gradient embeddings, so the picks are
both uncertain (long gradients) and diverse (far apart in gradient space).

The gradient embedding of sample i is g_i = (p_i - onehot(argmax p_i)) ⊗ x_i, a C*D
vector. It is never built: with a_i = p_i - onehot(argmax p_i),

    ||g_i - g_j||² = ||a_i||² ||x_i||² + ||a_j||² ||x_j||² - 2 (a_i·a_j)(x_i·x_j).

Each next pick is drawn with probability proportional to w_i, the squared distance to
the nearest pick so far. Updating w over all N after every pick would read the (N, D)
embeddings once per pick (memory-bound). Instead the weights are brought up to date
in batches: between two refreshes a pick is drawn from the stale weights W >= w and
accepted with probability w_i / W_i, where w_i needs only i's distance to the picks
made since the refresh (O(B (C + D)) work). That is exact rejection sampling, so the
picks follow the same distribution as the one-pick-at-a-time algorithm. A refresh
applies the pending picks at once, in row blocks of GEMMs, when too many proposals in
a row are rejected or ``_MAX_PENDING`` picks wait.

Memory beyond the inputs: the (N, C) float32 matrix ``a`` and a few (N,) arrays, about
60 MB for N = 1,000,000, C = 10; materialising g would take N*C*D*4 bytes = 5.1 GB at
D = 128.
"""

from __future__ import annotations

import numpy as np

from flywheel.strategies._math import row_sq_norms
from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, IntArray, Pool

# Pending picks kept before a refresh applies them to every weight (each draw checks
# its proposal against all of them: O(P (C + D))), and rejections in a row that force
# a refresh. While stale weights stay close (acceptance near 1, as when picks barely
# shrink each other's neighbourhoods) no refresh is needed at all.
_MAX_PENDING = 2048
_MAX_REJECTS = 8
# Elements of (pending, rows) scratch per refresh block: 2**22 float32 = 16 MiB.
_SCRATCH = 2**22


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
        sampler = _Sampler(x, a, g_sq, budget)
        picks = np.empty(budget, dtype=np.int64)
        scores = np.empty(budget, dtype=np.float64)
        j, score = int(np.argmax(g_sq)), float(g_sq.max())
        for step in range(budget):
            picks[step], scores[step] = j, np.sqrt(score)
            sampler.take(j)
            if step < budget - 1:
                j, score = sampler.draw(rng)
        return picks, scores


class _Sampler:
    """D² sampling over the pool with lazily applied picks (see the module docstring)."""

    def __init__(self, x: FloatArray, a: FloatArray, g_sq: FloatArray, budget: int) -> None:
        self.x, self.a, self.g_sq = x, a, g_sq  # (N, D), (N, C), (N,)
        # (N + pad,) stale weights W; the zero pad lets sampling sum them in
        # (blocks, _BLOCK) without a copy. inf until the first refresh.
        self.weights = np.zeros(-(-len(x) // _BLOCK) * _BLOCK, dtype=g_sq.dtype)
        self.weights[: len(x)] = np.inf
        self.block_sums = np.zeros(len(self.weights) // _BLOCK, dtype=np.float64)
        self.chosen = np.zeros(len(x), dtype=bool)
        # Picks not yet applied to the weights: their x (P, D), a (P, C), ||g||² (P,).
        cap = min(_MAX_PENDING, budget)
        self.pend_x = np.empty((cap, x.shape[1]), dtype=x.dtype)
        self.pend_a = np.empty((cap, a.shape[1]), dtype=a.dtype)
        self.pend_g = np.empty(cap, dtype=g_sq.dtype)
        self.n_pending = 0
        self.refreshed = False  # the weights hold no real distance before the first refresh

    def take(self, j: int) -> None:
        """Record pick ``j``: it gets no weight from now on."""
        self.chosen[j] = True
        k = self.n_pending
        self.pend_x[k], self.pend_a[k], self.pend_g[k] = self.x[j], self.a[j], self.g_sq[j]
        self.n_pending += 1
        self.weights[j] = 0
        b = j // _BLOCK
        self.block_sums[b] = self.weights[b * _BLOCK : (b + 1) * _BLOCK].sum(dtype=np.float64)
        if self.n_pending == len(self.pend_g) or not self.refreshed:
            self.refresh()

    def draw(self, rng: np.random.Generator) -> tuple[int, float]:
        """A sample drawn with probability proportional to its current weight, and that
        weight. Uniform over those not chosen when every weight is 0 (every sample left
        duplicates a pick in gradient space)."""
        for _ in range(_MAX_REJECTS):
            i = _d2_sample(self.weights, self.block_sums, rng)
            if i < 0:
                break
            stale = float(self.weights[i])
            w = min(stale, float(self._dist_to_pending(i).min(initial=np.inf)))
            if rng.random() * stale < w:  # accept with probability w / W
                return i, w
        self.refresh()
        i = _d2_sample(self.weights, self.block_sums, rng)
        if i < 0:
            return int(rng.choice(np.flatnonzero(~self.chosen))), 0.0
        return i, float(self.weights[i])

    def refresh(self) -> None:
        """Apply the pending picks to every weight: GEMMs over blocks of rows."""
        k = self.n_pending
        if k == 0:
            return
        x_p, a_p, g_p = self.pend_x[:k], self.pend_a[:k], self.pend_g[:k, None]
        w = self.weights[: len(self.x)]
        rows = max(_BLOCK, _SCRATCH // max(k, 1))
        for r0 in range(0, len(self.x), rows):
            block = slice(r0, r0 + rows)
            dots = a_p @ self.a[block].T  # (P, rows) a_p·a_i
            dots *= x_p @ self.x[block].T  # (P, rows) <g_p, g_i>
            dots *= -2
            dots += g_p
            nearest = dots.min(axis=0)  # (rows,) a reduction across rows: vectorised
            nearest += self.g_sq[block]
            np.minimum(w[block], np.maximum(nearest, 0, out=nearest), out=w[block])
        w[self.chosen] = 0  # rounding must not leave a pick any weight
        self.block_sums = self.weights.reshape(-1, _BLOCK).sum(axis=1, dtype=np.float64)
        self.n_pending = 0
        self.refreshed = True

    def _dist_to_pending(self, i: int) -> FloatArray:
        """(P,) squared gradient-space distance from sample ``i`` to each pending pick."""
        k = self.n_pending
        dots = (self.pend_a[:k] @ self.a[i]) * (self.pend_x[:k] @ self.x[i])  # (P,)
        return np.maximum(self.pend_g[:k] + self.g_sq[i] - 2 * dots, 0)


# Sampling sums weights in blocks of this many, then scans one block: two short
# cumsums per draw instead of one over all N.
_BLOCK = 1024


def _d2_sample(weights: FloatArray, block_sums: FloatArray, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to ``weights`` (a multiple of
    ``_BLOCK`` long, >= 0, 0 in the pad), given their per-block sums; -1 when all are 0."""
    cum = np.cumsum(block_sums)
    if cum[-1] <= 0:
        return -1
    u = rng.random() * cum[-1]
    b = _clamped_search(cum, u, block_sums)
    within = weights[b * _BLOCK : (b + 1) * _BLOCK]  # (_BLOCK,)
    u_within = max(u - (cum[b] - block_sums[b]), 0.0)  # rounding can dip below the block start
    return b * _BLOCK + _clamped_search(np.cumsum(within, dtype=np.float64), u_within, within)


def _clamped_search(cum: FloatArray, u: float, weights: FloatArray) -> int:
    """The index i with cum[i-1] <= u < cum[i]; when rounding puts u past the end, the
    last index of positive weight (never a zero-weight one)."""
    i = int(np.searchsorted(cum, u, side="right"))
    return i if i < len(cum) else int(np.flatnonzero(weights)[-1])
