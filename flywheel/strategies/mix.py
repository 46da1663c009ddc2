"""A mix of two strategies: a share of the budget by one, the rest by the other.

Label-errors alone spends every label on samples whose weak label looks wrong; once the
clear contradictions are fixed its picks are samples the model merely doubts. Margin
alone spends labels on close calls and never looks at the weak labels. Half and half
fixes the most likely wrong tags and teaches the decision boundary in the same batch.
"""

from __future__ import annotations

import math

import numpy as np

from flywheel.errors import ConfigError
from flywheel.strategies.base import Strategy
from flywheel.strategies.label_errors import LabelErrors
from flywheel.strategies.margin import Margin
from flywheel.strategies.pool import FloatArray, IntArray, Pool


class Mix(Strategy):
    """``first`` picks ceil(fraction * budget) samples, ``second`` the rest among the
    samples ``first`` left. The picks interleave (one of the larger share's, one of the
    other's, ...) so any prefix holds both; scores are their ranks' reciprocal, 1 first.
    Unnamed: a named subclass fixes the pair (e.g. ``errors-margin``)."""

    def __init__(self, first: Strategy, second: Strategy, fraction: float = 0.5) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"mix fraction must be in [0, 1], got {fraction}")
        self.first, self.second, self.fraction = first, second, fraction

    def describe(self) -> str:
        return self.name or f"mix({self.first.describe()},{self.second.describe()})"

    def required_arrays(self) -> tuple[str, ...]:
        own = self.first.required_arrays()
        return own + tuple(a for a in self.second.required_arrays() if a not in own)

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        k_first = min(budget, math.ceil(self.fraction * budget))
        parts: list[IntArray] = []
        if k_first:
            parts.append(self.first._choose(pool, k_first, rng)[0])
        if budget - k_first:
            rest = np.setdiff1d(np.arange(len(pool)), parts[0] if parts else [])  # (N - k,)
            parts.append(rest[self.second._choose(pool.subset(rest), budget - k_first, rng)[0]])
        rank = np.concatenate([np.arange(len(p)) for p in parts])  # position within its part
        picks = np.concatenate(parts)[np.argsort(rank, kind="stable")]  # (budget,)
        return picks.astype(np.int64), 1.0 / np.arange(1, budget + 1)


class ErrorsMargin(Mix):
    """Half label-errors (the weak labels the model contradicts), half margin."""

    name = "errors-margin"
    task_kind = "label"  # a margin pick has no label to verify; a label task serves both

    def __init__(self, fraction: float = 0.5) -> None:
        super().__init__(LabelErrors(), Margin(), fraction)
