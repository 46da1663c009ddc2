"""Margin: pick the closest calls between the two most probable classes."""

from __future__ import annotations

import numpy as np

from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, Pool


class Margin(Strategy):
    """Score 1 - (p_top1 - p_top2), in [0, 1]: 1 is a tie between the top two classes."""

    name = "margin"
    requires = ("probs",)

    def _score(self, pool: Pool) -> FloatArray:
        assert pool.probs is not None
        top2 = np.partition(pool.probs, -2, axis=1)[:, -2:]  # (N, 2): second, first
        return 1 - (top2[:, 1] - top2[:, 0])
