"""Random sampling: the cold-start strategy, and the baseline every other one must beat."""

from __future__ import annotations

import numpy as np

from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, IntArray, Pool


class Random(Strategy):
    """Uniformly random picks; needs no model. Scores are the random keys in [0, 1)."""

    name = "random"

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        indices = rng.choice(len(pool), size=budget, replace=False).astype(np.int64)
        return indices, np.sort(rng.random(budget))[::-1]
