"""Diversity strategies spread their picks over the digits' embedding space."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from flywheel.strategies import get_strategy
from flywheel.strategies.badge import _BLOCK, _d2_sample

from .conftest import Digits

BUDGET = 50


def covering_radius(points: np.ndarray, centers: np.ndarray) -> float:
    """The farthest any point is from its nearest center."""
    return float(cdist(points, centers).min(axis=1).max())


def gradient_embeddings(probs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """BADGE's (N, C*D) embeddings, built explicitly (fine at digits' size)."""
    a = probs.copy()
    a[np.arange(len(a)), a.argmax(axis=1)] -= 1
    return (a[:, :, None] * x[:, None, :]).reshape(len(x), -1)


def test_kcenter_covers_the_pool_better_than_random(digits: Digits) -> None:
    # The top two principal components: in 2-D, covering radii differ most visibly.
    x = digits.embeddings[:, :2]
    sel = get_strategy("kcenter").select(digits.pool(embeddings=x), BUDGET, rng=0)
    rng = np.random.default_rng(0)
    random_radii = [
        covering_radius(x, x[rng.choice(len(x), BUDGET, replace=False)]) for _ in range(10)
    ]
    assert covering_radius(x, x[sel.indices]) < 0.6 * np.mean(random_radii)
    assert covering_radius(x, x[sel.indices]) < min(random_radii)


def test_kcenter_scores_bound_the_final_radius(digits: Digits) -> None:
    x = digits.embeddings.astype(np.float64)
    sel = get_strategy("kcenter").select(digits.pool(), BUDGET, rng=0)
    assert np.all(np.diff(sel.scores[1:]) <= 1e-4)  # farthest-first: radii only shrink
    # Greedy invariant: every point is within the last pick's distance of some pick.
    assert covering_radius(x, x[sel.indices]) <= sel.scores[-1] + 1e-4


def test_kcenter_starts_from_the_labelled_samples(digits: Digits) -> None:
    x = digits.embeddings.astype(np.float64)
    labelled = digits.train_embeddings
    pool = digits.pool(labelled_embeddings=labelled)
    sel = get_strategy("kcenter").select(pool, BUDGET, rng=0)
    to_labelled = cdist(x, labelled).min(axis=1)
    assert sel.indices[0] == np.argmax(to_labelled)
    np.testing.assert_allclose(sel.scores[0], to_labelled.max(), rtol=1e-4)
    centers = np.vstack([labelled, x[sel.indices]])
    assert covering_radius(x, centers) <= sel.scores[-1] + 1e-4


def test_badge_distances_match_explicit_gradient_embeddings(digits: Digits) -> None:
    g = gradient_embeddings(digits.probs, digits.embeddings.astype(np.float64))  # (N, 160)
    sel = get_strategy("badge").select(digits.pool(), BUDGET, rng=0)
    norms = np.linalg.norm(g, axis=1)
    assert sel.indices[0] == np.argmax(norms)
    np.testing.assert_allclose(sel.scores[0], norms.max(), rtol=1e-4)
    picks = sel.indices
    to_earlier = [cdist(g[[picks[t]]], g[picks[:t]]).min() for t in range(1, len(picks))]
    np.testing.assert_allclose(sel.scores[1:], to_earlier, rtol=1e-3, atol=1e-4)


def test_badge_picks_are_uncertain_and_diverse(digits: Digits) -> None:
    pool = digits.pool()
    badge = get_strategy("badge").select(pool, BUDGET, rng=0).indices
    confidence = digits.probs.max(axis=1)
    wrong = digits.probs.argmax(axis=1) != digits.y
    assert confidence[badge].mean() < confidence.mean() - 0.15  # uncertain ...
    assert wrong[badge].mean() > 3 * wrong.mean()
    # ... and diverse: less redundant than the purely uncertain picks, which crowd
    # around the same confusable pairs.
    x = digits.embeddings.astype(np.float64)
    for name in ("margin", "entropy"):
        uncertain = get_strategy(name).select(pool, BUDGET, rng=0).indices
        assert mean_nearest_pick(x, badge) > mean_nearest_pick(x, uncertain)
    assert len(np.unique(digits.probs[badge].argmax(axis=1))) == 10


def mean_nearest_pick(x: np.ndarray, picks: np.ndarray) -> float:
    """Mean distance from each pick to the nearest other pick (low = redundant)."""
    dist = cdist(x[picks], x[picks])
    np.fill_diagonal(dist, np.inf)
    return float(dist.min(axis=1).mean())


def test_badge_draws_in_proportion_to_squared_distance() -> None:
    rng = np.random.default_rng(0)
    weights = np.zeros(4 * _BLOCK, dtype=np.float32)  # four sampling blocks
    heavy = rng.choice(len(weights), size=6, replace=False)
    weights[heavy] = [1, 2, 3, 4, 5, 5]
    sums = weights.reshape(-1, _BLOCK).sum(axis=1, dtype=np.float64)
    draws = np.array([_d2_sample(weights, sums, rng) for _ in range(5_000)])
    assert set(draws) <= set(heavy)  # zero weight (picked already) is never drawn
    freq = np.array([np.mean(draws == i) for i in heavy])
    np.testing.assert_allclose(freq, weights[heavy] / weights.sum(), atol=0.02)


def test_badge_on_a_fully_confident_model_still_picks_distinct_samples(digits: Digits) -> None:
    onehot = np.eye(10)[digits.probs.argmax(axis=1)]  # every gradient embedding is 0
    sel = get_strategy("badge").select(digits.pool(probs=onehot), 30, rng=0)
    assert len(np.unique(sel.indices)) == 30


def sequential_kcenter(x: np.ndarray, first: int, budget: int) -> list[int]:
    """Farthest-first traversal, one full distance pass per pick (the textbook loop)."""
    min_d = np.full(len(x), np.inf)
    picks = [first]
    for _ in range(budget - 1):
        min_d = np.minimum(min_d, ((x - x[picks[-1]]) ** 2).sum(axis=1))
        min_d[picks] = -1
        picks.append(int(np.argmax(min_d)))
    return picks


def test_kcenter_batched_picks_equal_the_sequential_loop(digits: Digits) -> None:
    # 120 picks: several batches of dot products computed ahead, and picks outside them.
    x = digits.embeddings.astype(np.float64)
    sel = get_strategy("kcenter").select(digits.pool(embeddings=x), 120, rng=3)
    assert sel.indices.tolist() == sequential_kcenter(x, int(sel.indices[0]), 120)


def test_badge_rejection_sampling_draws_the_exact_d2_distribution() -> None:
    # Five samples; the first pick is fixed (longest gradient), the third is drawn from
    # stale weights (not yet updated for the second pick) with rejection. The pairs
    # (second, third) must follow the one-pick-at-a-time D² probabilities.
    from flywheel.strategies import Pool

    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    probs = rng.dirichlet(np.ones(3), size=5)
    g = gradient_embeddings(probs, x)
    first = int(np.argmax(np.linalg.norm(g, axis=1)))
    pool = Pool(sample_ids=[str(i) for i in range(5)], probs=probs, embeddings=x)
    draws = [get_strategy("badge").select(pool, 3, rng=s).indices for s in range(4_000)]
    seen = np.zeros((5, 5))
    for picks in draws:
        assert picks[0] == first
        seen[picks[1], picks[2]] += 1 / len(draws)
    d = ((g[:, None, :] - g[None, :, :]) ** 2).sum(axis=2)  # (5, 5) squared distances
    expected = np.zeros((5, 5))
    w1 = d[first]
    for s in range(5):
        w2 = np.minimum(d[first], d[s])
        expected[s] = w1[s] / w1.sum() * w2 / w2.sum()
    np.testing.assert_allclose(seen, expected, atol=0.025)
