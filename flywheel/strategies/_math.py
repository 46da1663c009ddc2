"""Shared numerics: entropy, and squared distances without (N, M) matrices."""

from __future__ import annotations

import numpy as np

from flywheel.strategies.pool import FloatArray

# Elements per (rows, centers) block: 2**22 float32 = 16 MiB of scratch.
_BLOCK = 2**22


def row_sq_norms(x: FloatArray) -> FloatArray:
    """(N,) squared L2 norm of each row of ``x`` (N, D), in x's dtype."""
    return np.einsum("ij,ij->i", x, x)


def sq_dist_to_one(x: FloatArray, x_sq: FloatArray, j: int) -> FloatArray:
    """(N,) squared distance from every row of ``x`` to row ``j``: one matvec.
    ||x_i - x_j||² = ||x_i||² + ||x_j||² - 2 x_i·x_j, clipped at 0 (rounding)."""
    dist = x @ x[j]  # (N,)
    dist *= -2
    dist += x_sq
    dist += x_sq[j]
    return np.maximum(dist, 0, out=dist)


def min_sq_dist(x: FloatArray, x_sq: FloatArray, centers: FloatArray) -> FloatArray:
    """(N,) squared distance from each row of ``x`` (N, D) to its nearest row of
    ``centers`` (M, D), in blocks of at most ``_BLOCK`` elements."""
    out = np.full(len(x), np.inf, dtype=x.dtype)
    c_sq = row_sq_norms(centers).astype(x.dtype, copy=False)
    cols = max(1, min(len(centers), _BLOCK // 1024))
    rows = max(1, _BLOCK // cols)
    for c0 in range(0, len(centers), cols):
        block_c = centers[c0 : c0 + cols].astype(x.dtype, copy=False).T  # (D, cols)
        for r0 in range(0, len(x), rows):
            d = x[r0 : r0 + rows] @ block_c  # (rows, cols)
            d *= -2
            d += c_sq[c0 : c0 + cols]
            nearest = d.min(axis=1) + x_sq[r0 : r0 + rows]
            np.minimum(out[r0 : r0 + rows], nearest, out=out[r0 : r0 + rows])
    return np.maximum(out, 0, out=out)


def entropy(p: FloatArray) -> FloatArray:
    """Shannon entropy in nats over the last axis of ``p`` (..., C); 0 log 0 = 0."""
    logp = np.log(np.where(p > 0, p, 1))
    return -(p * logp).sum(axis=-1)
