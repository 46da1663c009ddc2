"""BALD (Houlsby et al. 2011; Gal et al. 2017): pick where MC-dropout passes disagree."""

from __future__ import annotations

import numpy as np

from flywheel.strategies._math import entropy
from flywheel.strategies.base import Strategy
from flywheel.strategies.pool import FloatArray, Pool


class Bald(Strategy):
    """Score the mutual information between the label and the model weights,
    I = H(mean_t p_t) - mean_t H(p_t), in nats, >= 0. High when each pass is confident
    but the passes disagree (epistemic), low when all agree on a spread (aleatoric)."""

    name = "bald"
    requires = ("mc_probs",)

    def _score(self, pool: Pool) -> FloatArray:
        mc = pool.mc_probs  # (T, N, C)
        assert mc is not None
        mutual_info = entropy(mc.mean(axis=0)) - entropy(mc).mean(axis=0)  # (N,)
        return np.maximum(mutual_info, 0)  # rounding can dip a hair below 0
