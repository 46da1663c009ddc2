"""Split-cluster detection: does a class's embedding form two or more well-separated
groups (a "jaguar" class holding cars and cats)?

For one class (n samples, embeddings (n, D)):

1. centre and reduce to at most ``max_dims`` principal components of the class;
2. *separation*: split a random half into two with k-means, assign the other half to
   the nearer centre, and measure on that held-out half the distance between the two
   groups along the axis joining the centres, in pooled standard deviations (d');
   the median over ``repeats`` halvings. Held-out points keep k-means from finding
   structure in noise: cutting one Gaussian blob in two gives d' ≈ 2.7 however many
   dimensions it has, two distinct classes give 5 and more;
3. the class is *split* when separation >= ``threshold`` and, on the halvings, the
   smaller group holds at least ``min_group_share`` of the class (smaller groups are
   label errors or rare styles, which the label-errors strategy is for) and is about as
   tight as the larger: its RMS radius at most ``max_spread_ratio`` times the larger's.
   Label errors scattered over several other classes sit far from the class, so 2-means
   can lump them into one "group" of a fifth of the class; that group is spread over
   several clusters, twice as wide as the class's own, while the second real class of a
   mixed class is one cluster like the first;
4. a split class is cut in two with k-means on all its samples, and each part is tested
   again the same way until there are ``max_groups`` groups (so k is 1, 2 or 3).

With enough classes to calibrate against (``split_null.NullConfig.min_null_classes``)
the decision is not this fixed threshold but the null of the honest classes, in the
model's embedding and in views the labels did not shape (``flywheel.reports.split_null``);
the separation above is then kept as evidence only.

Groups are numbered 1, 2, ... by size, largest first; members are ordered by distance
to their group's centre, so the examples are the most typical ones. Everything is
seeded: the same input gives the same groups (``verify-cluster`` relies on it).
See docs/decisions/reports-split-clusters.md for the choice of statistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flywheel.errors import ConfigError
from flywheel.reports.split_null import (
    NullConfig,
    ViewEvidence,
    calibrate,
    score_class,
    split_in_view,
)

FloatMatrix = np.ndarray  # (n, D) float


@dataclass(frozen=True)
class SplitConfig:
    threshold: float = 5.0  # d' on held-out halves at or above which a class is split
    min_group_share: float = 0.2
    max_spread_ratio: float = 1.5  # smaller group's RMS radius / larger group's, at most
    max_groups: int = 3
    min_class_size: int = 20  # smaller classes are not tested (too few to halve)
    max_dims: int = 10
    repeats: int = 7
    max_samples: int = 2000  # per class and test, sampled at random
    n_examples: int = 6
    seed: int = 0
    calibrate: bool = True  # decide against the honest classes' null when there are enough
    null: NullConfig = field(default_factory=NullConfig)

    def __post_init__(self) -> None:
        if self.threshold <= 0:
            raise ConfigError(f"split threshold must be positive, got {self.threshold}")
        if not 0 < self.min_group_share < 0.5:
            raise ConfigError(f"min group share must be in (0, 0.5), got {self.min_group_share}")
        if self.max_spread_ratio <= 0:
            raise ConfigError(f"max spread ratio must be positive, got {self.max_spread_ratio}")
        if not 1 <= self.max_groups <= 10:
            raise ConfigError(f"max groups must be 1..10, got {self.max_groups}")
        if self.min_class_size < 8 or self.repeats < 1 or self.n_examples < 1:
            raise ConfigError("min_class_size >= 8, repeats >= 1 and n_examples >= 1, please")


@dataclass(frozen=True)
class Group:
    members: list[str]  # sample ids, most typical first
    examples: list[str]

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class ClassSplit:
    class_name: str
    split: bool
    separation: float | None  # held-out d'; None: too few samples to test
    smaller_share: float | None  # median share of the smaller group on the halvings
    groups: list[Group] = field(default_factory=list)
    spread_ratio: float | None = None  # median RMS radius, smaller group / larger
    evidence: list[ViewEvidence] = field(default_factory=list)  # per view, when calibrated
    split_by: str | None = None  # the view whose groups are shown

    @property
    def calibrated(self) -> bool:
        return bool(self.evidence)

    @property
    def size(self) -> int:
        return sum(g.size for g in self.groups)

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.class_name,
            "split": self.split,
            "groups": [{"size": g.size, "examples": g.examples} for g in self.groups],
            "separation": None if self.separation is None else round(self.separation, 3),
            "smaller_share": None if self.smaller_share is None else round(self.smaller_share, 3),
            "spread_ratio": None if self.spread_ratio is None else round(self.spread_ratio, 3),
            "split_by": self.split_by,
            "evidence": [e.to_json() for e in self.evidence],
        }


def find_split_clusters(
    embeddings: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    sample_ids: Sequence[str] | np.ndarray,
    config: SplitConfig | None = None,
    views: Mapping[str, np.ndarray] | None = None,
) -> list[ClassSplit]:
    """One ``ClassSplit`` per class in ``labels``, sorted by class name.

    ``embeddings`` (N, D) float (the model's), ``labels`` (N,) class names,
    ``sample_ids`` (N,); ``views`` more (N, D_v) features of the same samples by name,
    e.g. ``{"imagenet": ...}``, used when the decision is calibrated.
    """
    config = config or SplitConfig()
    X = np.asarray(embeddings, dtype=np.float64)
    labels_arr, ids = np.asarray(labels, dtype=object), np.asarray(sample_ids, dtype=object)
    if X.ndim != 2 or not len(X) == len(labels_arr) == len(ids):
        raise ConfigError(
            f"need embeddings (N, D) with N labels and N ids, got {X.shape}, "
            f"{len(labels_arr)} labels, {len(ids)} ids"
        )
    if not np.isfinite(X).all():
        raise ConfigError("embeddings hold NaN or infinite values; re-score the pool")
    extra = {k: np.asarray(v, dtype=np.float64) for k, v in (views or {}).items()}
    if any(v.ndim != 2 or len(v) != len(X) or not np.isfinite(v).all() for v in extra.values()):
        raise ConfigError(f"every view needs {len(X)} finite rows, one per sample")
    names = sorted(set(labels_arr.tolist()))
    sizes = {n: int((labels_arr == n).sum()) for n in names}
    testable = [n for n in names if sizes[n] >= config.min_class_size]
    if config.calibrate and len(testable) >= config.null.min_null_classes:
        return _calibrated({"model": X, **extra}, labels_arr, ids, names, testable, config)
    return [
        _split_class(str(name), X[labels_arr == name], ids[labels_arr == name], config)
        for name in sorted(set(labels_arr.tolist()))
    ]


def _split_class(name: str, X: FloatMatrix, ids: np.ndarray, config: SplitConfig) -> ClassSplit:
    rng = np.random.default_rng(config.seed)
    if len(X) < config.min_class_size:
        return ClassSplit(name, False, None, None, [_group(X, ids, np.arange(len(X)), config)])
    separation, share, spread = separation_score(X, config, rng)
    parts = [np.arange(len(X))]  # index sets into X
    if _splits(separation, share, spread, config):
        parts = _bisect(X, parts[0], config, rng)
        while len(parts) < config.max_groups:
            tests = [separation_score(X[p], config, rng) if len(p) >= config.min_class_size
                     else (0.0, 0.0, 0.0) for p in parts]  # fmt: skip
            ok = [t[0] if _splits(*t, config) else -1.0 for t in tests]
            best = int(np.argmax(ok))
            if ok[best] < 0:
                break
            parts = parts[:best] + _bisect(X, parts[best], config, rng) + parts[best + 1 :]
    groups = sorted((_group(X, ids, p, config) for p in parts), key=lambda g: -g.size)
    return ClassSplit(name, len(groups) > 1, separation, share, groups, spread)


def _calibrated(
    views: Mapping[str, FloatMatrix],
    labels: np.ndarray,
    ids: np.ndarray,
    names: list[str],
    testable: list[str],
    config: SplitConfig,
) -> list[ClassSplit]:
    """Every class against the leave-one-out null of the others, in every view."""
    rng = np.random.default_rng(config.seed)
    scores = {view: {c: score_class(M[labels == c], config.null, rng) for c in testable}
              for view, M in views.items()}  # fmt: skip
    evidence = calibrate(scores, config.null)
    out = []
    for name in names:
        mask = labels == name
        X, class_ids = views["model"][mask], ids[mask]
        if name not in evidence:
            out.append(ClassSplit(name, False, None, None, [_group(X, class_ids, np.arange(len(X)), config)]))  # fmt: skip
            continue
        class_rng = np.random.default_rng([config.seed, names.index(name)])
        separation, share, spread = separation_score(X, config, class_rng)
        split = [e for e in evidence[name] if e.split]
        parts, by, M = [np.arange(len(X))], None, X
        if split:
            best = max(split, key=lambda e: e.z)
            by, M = best.view, views[best.view][mask]
            parts = split_in_view(M, best, config.null, config.max_groups, class_rng)
        groups = sorted((_group(M, class_ids, p, config) for p in parts), key=lambda g: -g.size)
        out.append(ClassSplit(name, len(groups) > 1, separation, share, groups, spread,
                              evidence[name], by))  # fmt: skip
    return out


def _splits(separation: float, share: float, spread: float, config: SplitConfig) -> bool:
    return (
        separation >= config.threshold
        and share >= config.min_group_share
        and spread <= config.max_spread_ratio
    )


def _reduce(X: FloatMatrix, max_dims: int) -> FloatMatrix:
    """(n, D) -> (n, d) centred principal components, d <= max_dims."""
    centred = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    d = max(1, min(max_dims, int((s > s[0] * 1e-6).sum()) if s.size and s[0] > 0 else 1))
    return np.asarray(centred @ vt[:d].T)


def two_means(
    Z: FloatMatrix, rng: np.random.Generator, restarts: int = 4
) -> tuple[np.ndarray, FloatMatrix]:
    """Lloyd's 2-means with k-means++ seeding, best of ``restarts``: (labels (n,) in
    {0, 1}, centres (2, d)). Plain NumPy: many tiny fits, no thread-pool start-up."""
    best: tuple[float, np.ndarray, FloatMatrix] | None = None
    for _ in range(restarts):
        first = Z[rng.integers(len(Z))]
        d2 = ((Z - first) ** 2).sum(axis=1)  # (n,)
        p = d2 / d2.sum() if d2.sum() > 0 else None
        centres = np.stack([first, Z[rng.choice(len(Z), p=p)]])  # (2, d)
        for _ in range(100):
            dist = ((Z[:, None, :] - centres[None]) ** 2).sum(axis=2)  # (n, 2)
            side = dist.argmin(axis=1)
            moved = np.stack([Z[side == k].mean(axis=0) if (side == k).any() else centres[k]
                              for k in (0, 1)])  # fmt: skip
            if np.allclose(moved, centres):
                break
            centres = moved
        inertia = float(dist.min(axis=1).sum())
        if best is None or inertia < best[0]:
            best = (inertia, side, centres)
    assert best is not None
    return best[1], best[2]


def separation_score(
    X: FloatMatrix, config: SplitConfig, rng: np.random.Generator
) -> tuple[float, float, float]:
    """(median held-out d', median share of the smaller group, median held-out RMS
    radius of the smaller group over the larger's) of 2-means splits of ``X`` (n, D)
    over random halvings; the test is laid out in the module docstring."""
    if len(X) > config.max_samples:
        X = X[rng.choice(len(X), config.max_samples, replace=False)]
    Z = _reduce(X, config.max_dims)  # (n, d)
    half = len(Z) // 2
    scores, shares, spreads = [], [], []
    for _ in range(config.repeats):
        order = rng.permutation(len(Z))
        fit, held = Z[order[:half]], Z[order[half:]]
        side_fit, centres = two_means(fit, rng)
        counts = np.bincount(side_fit, minlength=2)
        shares.append(float(counts.min() / half))
        d2 = ((held[:, None, :] - centres[None]) ** 2).sum(axis=2)  # (n - half, 2)
        side = d2.argmin(axis=1)
        radius = [np.sqrt(d2[side == k, k].mean()) if (side == k).any() else 0.0 for k in (0, 1)]
        small = int(counts.argmin())
        spreads.append(float(radius[small] / (radius[1 - small] or 1e-12)))
        axis = centres[0] - centres[1]
        proj = held @ (axis / (np.linalg.norm(axis) or 1.0))  # (n - half,)
        a, b = proj[side == 0], proj[side == 1]
        if min(len(a), len(b)) < 2:
            scores.append(0.0)
            continue
        pooled = np.sqrt((a.var() + b.var()) / 2) or 1e-12
        scores.append(float(abs(a.mean() - b.mean()) / pooled))
    return float(np.median(scores)), float(np.median(shares)), float(np.median(spreads))


def _bisect(
    X: FloatMatrix, part: np.ndarray, config: SplitConfig, rng: np.random.Generator
) -> list[np.ndarray]:
    """``part`` (indices into X) cut in two by 2-means on its reduced embeddings."""
    Z = _reduce(X[part], config.max_dims)
    side, _ = two_means(Z, rng)
    return [part[side == 0], part[side == 1]]


def _group(X: FloatMatrix, ids: np.ndarray, part: np.ndarray, config: SplitConfig) -> Group:
    centre = X[part].mean(axis=0)
    order = part[np.argsort(np.linalg.norm(X[part] - centre, axis=1), kind="stable")]
    members = [str(i) for i in ids[order]]
    return Group(members, members[: config.n_examples])
