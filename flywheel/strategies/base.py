"""The strategy interface: the base class validates and ranks, a subclass only scores.

A strategy is one small module in ``flywheel/strategies/``; defining a subclass of
``Strategy`` with a ``name`` there registers it (see ``flywheel.strategies``). A plain
uncertainty heuristic overrides ``_score`` (higher = pick first); a batch-aware one
overrides ``_choose``. ``Modifier`` wraps another strategy (quotas, skip-known,
prior shift) and is itself a ``Strategy``, so callers never ask what they hold.
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar, TypeAlias

import numpy as np

from flywheel.strategies.errors import (
    BudgetTooLargeError,
    EmptyPoolError,
    InvalidBudgetError,
    MissingArrayError,
)
from flywheel.strategies.pool import FloatArray, IntArray, Pool, Selection

RngLike: TypeAlias = np.random.Generator | int | None


class Strategy:
    """Base class. Subclasses set ``name`` (the CLI's ``--strategy``), ``requires``
    (the ``Pool`` arrays they read) and override ``_score`` or ``_choose``."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    # The annotation task its picks call for: "label" (pick a class) or "verify"
    # (is the current label right?).
    task_kind: ClassVar[str] = "label"

    def select(self, pool: Pool, budget: int, rng: RngLike = None) -> Selection:
        """Choose ``budget`` distinct samples of ``pool``, best first.

        ``rng`` (a Generator or a seed) breaks ties and drives randomised strategies:
        the same seed gives the same selection.
        """
        budget = _check_budget(budget, len(pool))
        self._check_pool(pool)
        indices, scores = self._choose(pool, budget, np.random.default_rng(rng))
        return Selection.from_picks(pool, indices, scores, self.describe())

    def describe(self) -> str:
        """The name recorded with a selection, e.g. ``class-balanced(margin)``."""
        return self.name or type(self).__name__

    def required_arrays(self) -> tuple[str, ...]:
        """The ``Pool`` arrays this strategy reads, so a caller loads only those."""
        return self.requires

    def _check_pool(self, pool: Pool) -> None:
        """Raise unless ``pool`` has what this strategy reads; modifiers extend it."""
        for array in self.required_arrays():
            if getattr(pool, array) is None:
                raise MissingArrayError(array, self.describe())

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        """(budget,) pool indices, best first, and their (budget,) scores.
        Trusts that ``1 <= budget <= len(pool)`` and that ``requires`` are present."""
        return top_k(self._score(pool), budget, rng)

    def _score(self, pool: Pool) -> FloatArray:
        """(N,) per-sample score, higher = pick first."""
        raise NotImplementedError(f"{type(self).__name__} must override _score or _choose")


class Modifier(Strategy):
    """A strategy that wraps ``inner``: it changes the pool, the budget split or the
    probabilities, then lets ``inner`` rank. Unnamed, so not in the registry."""

    label: ClassVar[str] = "modifier"  # what ``describe`` calls it: "label(inner)"

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner

    def describe(self) -> str:
        return f"{self.label}({self.inner.describe()})"

    def required_arrays(self) -> tuple[str, ...]:
        own = self.requires
        return own + tuple(a for a in self.inner.required_arrays() if a not in own)

    def _check_pool(self, pool: Pool) -> None:
        super()._check_pool(pool)
        self.inner._check_pool(pool)


def top_k(scores: FloatArray, k: int, rng: np.random.Generator) -> tuple[IntArray, FloatArray]:
    """Indices of the ``k`` highest of ``scores`` (N,), highest first; ties broken at
    random by ``rng`` rather than by position. O(N + k log k)."""
    perm = rng.permutation(len(scores))  # (N,) so equal scores are not taken in pool order
    shuffled = scores[perm]
    part = np.argpartition(-shuffled, k - 1)[:k] if k < len(scores) else np.arange(k)
    part = part[np.argsort(-shuffled[part], kind="stable")]
    return perm[part].astype(np.int64), shuffled[part]


def _check_budget(budget: Any, available: int) -> int:
    try:
        if isinstance(budget, bool):
            raise TypeError
        value = operator.index(budget)
    except TypeError:
        raise InvalidBudgetError(f"budget must be an integer, got {budget!r}") from None
    if value < 1:
        raise InvalidBudgetError(f"budget must be at least 1, got {value}")
    if available == 0:
        raise EmptyPoolError("the pool is empty: nothing to select; ingest more data first")
    if value > available:
        raise BudgetTooLargeError(value, available)
    return value
