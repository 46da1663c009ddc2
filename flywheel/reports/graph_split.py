"""How cleanly a class falls into two communities: the conductance of the best balanced
cut of its nearest-neighbour graph (spectral sweep cut).

Two kinds of thing under one name (3s and 8s) make two communities: a sample's nearest
neighbours are of its own kind, and few edges cross between the kinds, so the best cut
has a low conductance. One kind with many styles is a continuum: any cut crosses many
edges. Unlike 2-means in the top principal components, the graph does not need the two
kinds to differ along the directions of largest variance (stroke width and slant do).

Conductance of a cut (A, B) = edges across / min(volume A, volume B), volume = sum of
degrees; 0 is two disconnected parts, about 0.5 is no structure at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GraphCut:
    conductance: float  # of the best balanced sweep cut; lower is more split
    share: float  # the smaller side's share of the samples
    side: np.ndarray  # (n,) bool, True for the samples on the first side


def best_cut(X: np.ndarray, k: int = 10, dims: int = 30, min_share: float = 0.2) -> GraphCut:
    """The best cut of ``X`` (n, D) whose smaller side holds at least ``min_share``.

    Steps: centre, keep ``dims`` principal components, unit-normalise (cosine), join
    each sample to its ``k`` nearest (symmetrised), take the Fiedler vector of the
    normalised Laplacian, and sweep the cuts along it. Deterministic for a given ``X``.

    >>> rng = np.random.default_rng(0)
    >>> two = np.vstack([rng.normal(0, 1, (40, 5)) + 6, rng.normal(0, 1, (40, 5)) - 6])
    >>> cut = best_cut(two, k=5)
    >>> round(cut.conductance, 2), cut.share, int(cut.side[:40].sum()) in (0, 40)
    (0.0, 0.5, True)
    """
    n = len(X)
    k = max(1, min(k, n - 1))
    centred = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    rank = int((s > (s[0] if s.size else 0) * 1e-6).sum()) or 1
    Z = centred @ vt[: min(dims, rank)].T  # (n, d)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12
    sim = Z @ Z.T  # (n, n) cosine
    np.fill_diagonal(sim, -np.inf)
    near = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (n, k)
    W = np.zeros((n, n))
    W[np.repeat(np.arange(n), k), near.ravel()] = 1.0
    W = np.maximum(W, W.T)  # (n, n) symmetric 0/1
    deg = W.sum(axis=1)  # (n,) >= k
    inv_sqrt = 1.0 / np.sqrt(deg)
    laplacian = np.eye(n) - inv_sqrt[:, None] * W * inv_sqrt[None, :]
    _, vecs = np.linalg.eigh(laplacian)
    fiedler = vecs[:, 1] * inv_sqrt  # (n,)
    return _sweep(W, deg, np.argsort(fiedler, kind="stable"), min_share)


def _sweep(W: np.ndarray, deg: np.ndarray, order: np.ndarray, min_share: float) -> GraphCut:
    """Best balanced prefix cut of ``order``: O(n^2) with running cut and volume."""
    n, total = len(order), float(deg.sum())
    inside = np.zeros(n, dtype=bool)
    cut = vol = 0.0
    best = (np.inf, 0.5, 0)
    for i, j in enumerate(order[:-1]):
        cut += deg[j] - 2.0 * W[j, inside].sum()
        inside[j] = True
        vol += deg[j]
        share = (i + 1) / n
        if min_share <= share <= 1 - min_share:
            conductance = cut / min(vol, total - vol)
            if conductance < best[0]:
                best = (conductance, min(share, 1 - share), i + 1)
    side = np.zeros(n, dtype=bool)
    side[order[: best[2]]] = True
    if not np.isfinite(best[0]):  # too few samples for a balanced cut
        return GraphCut(0.5, 0.0, side)
    return GraphCut(float(best[0]), float(best[1]), side)
