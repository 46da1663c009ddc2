"""Modifiers wrap any strategy: class quotas, skip-known and prior-shift correction."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from flywheel.errors import ConfigError
from flywheel.strategies import (
    BudgetTooLargeError,
    ClassBalanced,
    PriorShift,
    SkipKnown,
    adjust_probs,
    estimate_priors_em,
    get_strategy,
)
from flywheel.strategies.class_balanced import split_budget

from .conftest import Digits


def test_class_balanced_spreads_picks_across_predicted_classes(digits: Digits) -> None:
    pool = digits.pool()
    predicted = digits.probs.argmax(axis=1)
    plain = np.bincount(
        predicted[get_strategy("margin").select(pool, 95, rng=0).indices], minlength=10
    )
    sel = ClassBalanced(get_strategy("margin")).select(pool, 95, rng=0)
    balanced = np.bincount(predicted[sel.indices], minlength=10)
    assert balanced.max() - balanced.min() <= 1 < plain.max() - plain.min()
    first_round = predicted[sel.indices[:10]]  # interleaved: any prefix is balanced too
    assert sorted(first_round) == list(range(10))


def test_class_balanced_takes_each_share_by_the_inner_ranking(digits: Digits) -> None:
    pool = digits.pool()
    predicted = digits.probs.argmax(axis=1)
    sel = ClassBalanced(get_strategy("entropy")).select(pool, 50, rng=0)
    scores = get_strategy("entropy")._score(pool)
    for k in range(10):
        members = np.flatnonzero(predicted == k)
        picked = np.intersect1d(sel.indices, members)
        assert scores[picked].min() >= np.sort(scores[members])[-len(picked)] - 1e-12


def test_quotas_pass_a_short_class_share_on() -> None:
    rng = np.random.default_rng(0)
    quotas = split_budget(np.array([2, 50, 0, 50, 7]), 40, rng)
    # Classes 0 and 4 are short: their unused share goes to 1 and 3; the odd unit at random.
    assert quotas[[0, 2, 4]].tolist() == [2, 0, 7]
    assert sorted(quotas[[1, 3]].tolist()) == [15, 16]
    assert split_budget(np.array([3, 3, 3]), 9, rng).tolist() == [3, 3, 3]


def test_skip_known_never_picks_known_ids_and_otherwise_defers(digits: Digits) -> None:
    pool = digits.pool()
    known = set(get_strategy("margin").select(pool, 30, rng=0).sample_ids)
    sel = SkipKnown(get_strategy("margin"), known).select(pool, 30, rng=0)
    assert not known & set(sel.sample_ids)
    rest = np.flatnonzero(~np.isin(pool.sample_ids, list(known)))
    alone = get_strategy("margin").select(pool.subset(rest), 30, rng=0)
    assert sel.sample_ids.tolist() == alone.sample_ids.tolist()


def test_skip_known_samples_are_centres_kcenter_covers_already(digits: Digits) -> None:
    """k-center under skip-known starts from the known samples as centres: the same
    picks as the plain strategy given their embeddings as ``labelled_embeddings``."""
    pool = digits.pool()
    known_at = np.arange(0, len(pool), 7)  # (K,) every seventh sample is labelled or queued
    sel = SkipKnown(get_strategy("kcenter"), pool.sample_ids[known_at]).select(pool, 30, rng=0)
    rest = np.setdiff1d(np.arange(len(pool)), known_at)
    alone = digits.pool(
        sample_ids=pool.sample_ids[rest],
        probs=digits.probs[rest],
        embeddings=digits.embeddings[rest],
        mc_probs=digits.mc_probs[:, rest],
        labelled_embeddings=digits.embeddings[known_at],
    )
    direct = get_strategy("kcenter").select(alone, 30, rng=0)
    assert sel.sample_ids.tolist() == direct.sample_ids.tolist()
    blind = get_strategy("kcenter").select(pool.subset(rest), 30, rng=0)
    assert sel.sample_ids.tolist() != blind.sample_ids.tolist()
    assert np.isinf(blind.scores[0]) and np.isfinite(sel.scores[0])  # a random start, or not
    # Centres the caller gave are kept beside the known samples.
    given = digits.train_embeddings
    both = SkipKnown(get_strategy("kcenter"), pool.sample_ids[known_at]).select(
        digits.pool(labelled_embeddings=given), 30, rng=0
    )
    expect = get_strategy("kcenter").select(
        alone.with_labelled(np.vstack([given, digits.embeddings[known_at]])), 30, rng=0
    )
    assert both.sample_ids.tolist() == expect.sample_ids.tolist()


def test_skip_known_budget_error_counts_what_is_left(digits: Digits) -> None:
    pool = digits.pool().subset(np.arange(50))
    known = pool.sample_ids[:45].tolist()
    with pytest.raises(BudgetTooLargeError, match=r"budget 10 exceeds the 5 samples .* 45"):
        SkipKnown(get_strategy("random"), known).select(pool, 10, rng=0)


def shifted_pool(digits: Digits, priors: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices into the digits pool, resampled so that true classes follow ``priors``."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(10, size=size, p=priors)
    return np.array([rng.choice(np.flatnonzero(digits.y == k)) for k in classes])


def test_prior_shift_em_recovers_a_shifted_prior(digits: Digits) -> None:
    # A model trained on near-balanced data, deployed where digits 0-2 are 80% of traffic.
    target = np.array([0.4, 0.3, 0.1] + [0.2 / 7] * 7)
    # EM assumes calibrated probabilities; with 200 samples the default C=1 is
    # underconfident, C=10 is close to calibrated.
    model = LogisticRegression(C=10, max_iter=5000).fit(digits.x_train, digits.y_train)
    idx = shifted_pool(digits, target, size=3000, seed=0)
    probs = model.predict_proba(digits.x[idx])
    train = np.bincount(digits.y_train, minlength=10) / len(digits.y_train)
    estimate = estimate_priors_em(probs, train)
    assert np.abs(estimate - target).max() < 0.03
    naive = probs.mean(axis=0)  # biased towards the training prior
    assert np.abs(estimate - target).sum() < 0.5 * np.abs(naive - target).sum()


def test_prior_shift_feeds_adjusted_probs_to_the_inner_strategy(digits: Digits) -> None:
    target = np.linspace(1, 3, 10) / np.linspace(1, 3, 10).sum()
    pool = digits.pool(mc_probs=None)
    sel = PriorShift(get_strategy("margin"), target).select(pool, 40, rng=0)
    adjusted = adjust_probs(digits.probs, np.full(10, 0.1), target)
    direct = get_strategy("margin").select(pool.with_probs(adjusted), 40, rng=0)
    assert sel.indices.tolist() == direct.indices.tolist()
    assert sel.indices.tolist() != get_strategy("margin").select(pool, 40, rng=0).indices.tolist()
    assert sel.strategy == "prior-shift(margin)"


@pytest.mark.parametrize("priors", [[0.5, 0.6], [1.0], [-0.5, 1.5], [0.5, float("nan")]])
def test_prior_shift_rejects_bad_priors(priors: list[float]) -> None:
    with pytest.raises(ConfigError, match="priors"):
        PriorShift(get_strategy("margin"), priors)


def test_prior_shift_priors_must_match_the_classes(digits: Digits) -> None:
    with pytest.raises(ConfigError, match="3 entries for 10 classes"):
        PriorShift(get_strategy("margin"), [0.2, 0.3, 0.5]).select(digits.pool(), 5, rng=0)


def test_modifiers_compose(digits: Digits) -> None:
    known = digits.pool().sample_ids[:100].tolist()
    inner = PriorShift(ClassBalanced(get_strategy("badge")))
    sel = SkipKnown(inner, known).select(digits.pool(), 30, rng=0)
    assert sel.strategy == "skip-known(prior-shift(class-balanced(badge)))"
    assert not set(known) & set(sel.sample_ids)
    assert len(set(sel.indices)) == 30
