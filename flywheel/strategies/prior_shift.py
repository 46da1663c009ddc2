"""Prior-shift correction: re-weight the model's probabilities to the deployment's class
mix before the inner strategy reads them.

Bayes' rule with p(x|k) fixed gives p'(k|x) ∝ p(k|x) π'_k / π_k, for training priors
π and target priors π'. When π' is unknown it is estimated from the unlabelled pool by
the EM of Saerens, Latinne & Decaestecker (2002): adjust with the current estimate,
take the mean adjusted posterior as the next estimate, repeat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.errors import ConfigError
from flywheel.strategies.base import Modifier, Strategy
from flywheel.strategies.pool import FloatArray, IntArray, Pool


class PriorShift(Modifier):
    """Feeds the inner strategy probabilities adjusted to ``target_priors`` (C,), or to
    priors estimated from the pool by EM when None. ``train_priors`` (C,) are the class
    frequencies the model was trained on (default uniform: a balanced training set).
    ``mc_probs``, when present, are adjusted the same way."""

    label = "prior-shift"
    requires = ("probs",)

    def __init__(
        self,
        inner: Strategy,
        target_priors: Sequence[float] | None = None,
        train_priors: Sequence[float] | None = None,
        *,
        max_iter: int = 1000,
        tol: float = 1e-6,
    ) -> None:
        super().__init__(inner)
        self.target_priors = None if target_priors is None else _priors("target", target_priors)
        self.train_priors = None if train_priors is None else _priors("train", train_priors)
        self.max_iter, self.tol = max_iter, tol

    def _check_pool(self, pool: Pool) -> None:
        super()._check_pool(pool)
        for kind, priors in (("target", self.target_priors), ("train", self.train_priors)):
            if priors is not None and len(priors) != pool.num_classes:
                raise ConfigError(
                    f"{kind} priors have {len(priors)} entries for {pool.num_classes} classes"
                )

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        assert pool.probs is not None
        n_classes = pool.probs.shape[1]
        train = self.train_priors
        if train is None:
            train = np.full(n_classes, 1 / n_classes)
        target = self.target_priors
        if target is None:
            target = estimate_priors_em(pool.probs, train, max_iter=self.max_iter, tol=self.tol)
        mc = pool.mc_probs
        shifted = pool.with_probs(
            adjust_probs(pool.probs, train, target),
            None if mc is None else adjust_probs(mc, train, target),
        )
        return self.inner._choose(shifted, budget, rng)


def adjust_probs(
    probs: FloatArray, train_priors: FloatArray, target_priors: FloatArray
) -> FloatArray:
    """``probs`` (..., C) re-weighted by target/train priors (C,) and renormalised."""
    adjusted = probs * (target_priors / train_priors)
    adjusted /= adjusted.sum(axis=-1, keepdims=True)
    return adjusted


def estimate_priors_em(
    probs: FloatArray, train_priors: FloatArray, *, max_iter: int = 1000, tol: float = 1e-6
) -> FloatArray:
    """(C,) class priors of the pool behind ``probs`` (N, C), by Saerens et al.'s EM,
    starting from ``train_priors`` (C,); stops when no prior moves more than ``tol``.

    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> estimate_priors_em(p, np.array([0.5, 0.5])).round(2).tolist()
    [0.7, 0.3]
    """
    priors = np.asarray(train_priors, dtype=np.float64)
    for _ in range(max_iter):
        updated = adjust_probs(probs, train_priors, priors).mean(axis=0)
        if np.abs(updated - priors).max() < tol:
            return updated
        priors = updated
    return priors


def _priors(kind: str, values: Sequence[float]) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or len(arr) < 2 or not np.isfinite(arr).all() or (arr <= 0).any():
        raise ConfigError(f"{kind} priors must be 2 or more positive numbers, got {values!r}")
    if abs(arr.sum() - 1) > 1e-3:
        raise ConfigError(f"{kind} priors must sum to 1, got sum {arr.sum():.6g}")
    return arr / arr.sum()  # absorb rounding such as 0.333 * 3
