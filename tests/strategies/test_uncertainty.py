"""Uncertainty strategies pick what a real digits classifier is least sure about."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from flywheel.strategies import get_strategy

from .conftest import Digits

BUDGET = 100


def _margin(probs: np.ndarray) -> np.ndarray:
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


# Each strategy's own notion of "unsure", computed independently here (higher = less sure).
UNSURENESS = {
    "margin": lambda p: -_margin(p),
    "least-confidence": lambda p: -p.max(axis=1),
    "entropy": lambda p: scipy_entropy(p, axis=1),
}


@pytest.mark.parametrize("name", sorted(UNSURENESS))
def test_picks_are_the_least_sure(digits: Digits, name: str) -> None:
    sel = get_strategy(name).select(digits.pool(), BUDGET, rng=0)
    unsure = UNSURENESS[name](digits.probs)
    rest = np.setdiff1d(np.arange(len(unsure)), sel.indices)
    assert unsure[sel.indices].min() >= unsure[rest].max() - 1e-9
    assert np.all(np.diff(unsure[sel.indices]) <= 1e-9)  # best first


@pytest.mark.parametrize("name", sorted(UNSURENESS))
def test_picks_are_where_the_model_is_wrong(digits: Digits, name: str) -> None:
    sel = get_strategy(name).select(digits.pool(), BUDGET, rng=0)
    wrong = digits.probs.argmax(axis=1) != digits.y
    assert wrong[sel.indices].mean() > 3 * wrong.mean()


def test_margin_picks_have_smaller_top2_gap(digits: Digits) -> None:
    sel = get_strategy("margin").select(digits.pool(), BUDGET, rng=0)
    gap = _margin(digits.probs)
    rest = np.setdiff1d(np.arange(len(gap)), sel.indices)
    assert gap[sel.indices].mean() < 0.25 * gap[rest].mean()


def test_bald_ranks_by_mutual_information(digits: Digits) -> None:
    mc = digits.mc_probs  # (T, N, C) bootstrapped models
    mutual_info = scipy_entropy(mc.mean(axis=0), axis=1) - scipy_entropy(mc, axis=2).mean(axis=0)
    sel = get_strategy("bald").select(digits.pool(), BUDGET, rng=0)
    np.testing.assert_allclose(sel.scores, mutual_info[sel.indices], atol=1e-9)
    rest = np.setdiff1d(np.arange(len(mutual_info)), sel.indices)
    assert mutual_info[sel.indices].min() >= mutual_info[rest].max() - 1e-9


def test_bald_picks_where_the_models_disagree(digits: Digits) -> None:
    votes = digits.mc_probs.argmax(axis=2)  # (T, N)
    majority = np.array([np.bincount(v, minlength=10).max() for v in votes.T])
    disagree = 1 - majority / len(votes)  # (N,) share of passes outvoted
    sel = get_strategy("bald").select(digits.pool(), BUDGET, rng=0)
    assert disagree[sel.indices].mean() > 3 * disagree.mean()


def test_ties_are_broken_by_the_rng_not_by_position(digits: Digits) -> None:
    flat = np.full_like(digits.probs, 0.1)  # a model that knows nothing: all tie
    pool = digits.pool(probs=flat, mc_probs=None)
    picks = [set(get_strategy("margin").select(pool, 10, rng=s).indices) for s in range(3)]
    assert picks[0] != picks[1] != picks[2]
    assert set(range(10)) not in picks  # not simply the first ten samples
