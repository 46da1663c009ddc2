"""Entropy: pick the samples whose predicted distribution is most spread out."""

from __future__ import annotations

from flywheel.strategies._math import entropy
from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, Pool


class Entropy(Strategy):
    """Score H(p(.|x)) in nats, in [0, log C]."""

    name = "entropy"
    requires = ("probs",)

    def _score(self, pool: Pool) -> FloatArray:
        assert pool.probs is not None
        return entropy(pool.probs)  # (N,)
