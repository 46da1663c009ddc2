"""Per-sample uncertainty from class probabilities (vectorised NumPy).

probs     (N, C)     softmax output of one deterministic pass
mc_probs  (T, N, C)  softmax outputs of T MC-dropout passes
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
_EPS = 1e-12


def least_confidence(probs: F32) -> F32:
    """1 - max_c p: 0 when sure, up to 1 - 1/C when uniform. (N,)"""
    return (1.0 - probs.max(axis=1)).astype(np.float32)


def margin(probs: F32) -> F32:
    """p_top1 - p_top2: small means a close call. (N,)"""
    if probs.shape[1] < 2:
        return np.ones(probs.shape[0], dtype=np.float32)
    top2 = np.partition(probs, -2, axis=1)[:, -2:]  # (N, 2): second, first
    return (top2[:, 1] - top2[:, 0]).astype(np.float32)


def entropy(probs: F32) -> F32:
    """-sum_c p log p, nats. (N,)"""
    return (-(probs * np.log(probs + _EPS)).sum(axis=-1)).astype(np.float32)


def bald(mc_probs: F32) -> F32:
    """Mutual information between prediction and weights (Houlsby et al. 2011):
    H(mean_t p_t) - mean_t H(p_t), nats. (T, N, C) -> (N,)"""
    mean = mc_probs.mean(axis=0)  # (N, C)
    return np.maximum(entropy(mean) - entropy(mc_probs).mean(axis=0), 0).astype(np.float32)
