"""Least confidence: pick the samples whose top class is least probable."""

from __future__ import annotations

from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, Pool


class LeastConfidence(Strategy):
    """Score 1 - max_c p(c|x), in [0, 1 - 1/C]."""

    name = "least-confidence"
    requires = ("probs",)

    def _score(self, pool: Pool) -> FloatArray:
        assert pool.probs is not None
        return 1 - pool.probs.max(axis=1)  # (N,)
