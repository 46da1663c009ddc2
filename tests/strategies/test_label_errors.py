"""label-errors finds weak labels that were flipped on purpose."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.strategies import get_strategy
from flywheel.strategies.label_errors import per_class_thresholds

from .conftest import Digits

FLIP_RATE = 0.05


@pytest.fixture(scope="module")
def flipped(digits: Digits) -> tuple[np.ndarray, np.ndarray]:
    """(weak labels with 5% flipped to another class, indices of the flipped ones)."""
    rng = np.random.default_rng(3)
    weak = digits.y.copy()
    flips = rng.choice(len(weak), size=int(FLIP_RATE * len(weak)), replace=False)
    weak[flips] = (weak[flips] + rng.integers(1, 10, size=len(flips))) % 10
    return weak, flips


def test_picks_are_mostly_the_flipped_labels(digits: Digits, flipped: tuple) -> None:
    weak, flips = flipped
    sel = get_strategy("label-errors").select(digits.pool(weak_labels=weak), len(flips), rng=0)
    precision = np.isin(sel.indices, flips).mean()
    assert precision > 10 * FLIP_RATE  # well above the 5% base rate
    top = sel.indices[: len(flips) // 4]
    assert np.isin(top, flips).mean() > 0.9  # the most confident contradictions first


def test_flags_contradict_the_weak_label_above_threshold(digits: Digits, flipped: tuple) -> None:
    weak, _ = flipped
    sel = get_strategy("label-errors").select(digits.pool(weak_labels=weak), 200, rng=0)
    flagged = sel.indices[sel.scores >= -1]
    assert 0 < len(flagged) < 200
    thresholds = per_class_thresholds(digits.probs, weak)
    for i in flagged:
        confident = np.flatnonzero(digits.probs[i] >= thresholds)  # classes above threshold
        suspect = confident[np.argmax(digits.probs[i, confident])]
        assert suspect != weak[i]
    assert np.all(np.diff(sel.scores) <= 1e-12)


def test_thresholds_are_mean_self_confidence(digits: Digits, flipped: tuple) -> None:
    weak, _ = flipped
    thresholds = per_class_thresholds(digits.probs, weak)
    for k in range(10):
        assert thresholds[k] == pytest.approx(digits.probs[weak == k, k].mean())


def test_samples_without_a_weak_label_come_last(digits: Digits, flipped: tuple) -> None:
    weak, _ = flipped
    weak = weak.copy()
    weak[: len(weak) // 2] = -1
    pool = digits.pool(weak_labels=weak)
    sel = get_strategy("label-errors").select(pool, len(pool), rng=0)
    n_labelled = int((weak >= 0).sum())
    assert np.all(weak[sel.indices[:n_labelled]] >= 0)
    assert np.all(weak[sel.indices[n_labelled:]] == -1)
