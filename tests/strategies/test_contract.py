"""The contract every strategy honours: each registered name, and modifiers around some."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from flywheel.strategies import (
    BudgetTooLargeError,
    ClassBalanced,
    EmptyPoolError,
    InvalidBudgetError,
    MissingArrayError,
    Pool,
    PriorShift,
    SkipKnown,
    Strategy,
    compose,
    get_strategy,
    names,
)

from .conftest import Digits

POOL_SIZE = 120  # small enough that budget == pool is quick for every strategy


def _named(name: str) -> Callable[[], Strategy]:
    return lambda: get_strategy(name)


FACTORIES: dict[str, Callable[[], Strategy]] = {name: _named(name) for name in names()}
FACTORIES |= {
    "class-balanced(margin)": lambda: ClassBalanced(get_strategy("margin")),
    "class-balanced(kcenter)": lambda: ClassBalanced(get_strategy("kcenter")),
    "skip-known(badge)": lambda: SkipKnown(get_strategy("badge"), ["not-in-pool"]),
    "prior-shift(bald)": lambda: PriorShift(get_strategy("bald")),
    "composed(entropy)": lambda: compose(
        get_strategy("entropy"), known_ids=[], class_balanced=True, prior_shift=True
    ),
}


@pytest.fixture
def full_pool(digits: Digits) -> Pool:
    """Every optional array present, including weak labels and labelled centers."""
    weak = digits.y.copy()
    weak[::7] = -1
    pool = digits.pool(weak_labels=weak, labelled_embeddings=digits.train_embeddings[:20])
    return pool.subset(np.arange(POOL_SIZE))


@pytest.fixture(params=sorted(FACTORIES))
def strategy(request: pytest.FixtureRequest) -> Strategy:
    return FACTORIES[request.param]()


@pytest.mark.parametrize("budget", [1, 17, POOL_SIZE])
def test_returns_budget_unique_indices_in_range(
    strategy: Strategy, full_pool: Pool, budget: int
) -> None:
    sel = strategy.select(full_pool, budget, rng=0)
    assert len(sel) == budget
    assert len(np.unique(sel.indices)) == budget
    assert sel.indices.min() >= 0 and sel.indices.max() < len(full_pool)
    assert sel.sample_ids.tolist() == full_pool.sample_ids[sel.indices].tolist()
    assert sel.ranks.tolist() == list(range(1, budget + 1))
    assert sel.scores.shape == (budget,)
    assert not np.isnan(sel.scores).any()
    assert sel.strategy == strategy.describe()
    assert sel.to_arrow().num_rows == budget


def test_same_seed_same_selection(strategy: Strategy, full_pool: Pool) -> None:
    first = strategy.select(full_pool, 25, rng=np.random.default_rng(7))
    again = strategy.select(full_pool, 25, rng=np.random.default_rng(7))
    assert first.indices.tolist() == again.indices.tolist()
    np.testing.assert_array_equal(first.scores, again.scores)


def test_budget_larger_than_pool_names_both_numbers(strategy: Strategy, full_pool: Pool) -> None:
    with pytest.raises(BudgetTooLargeError, match=rf"budget {POOL_SIZE + 1} .* {POOL_SIZE} "):
        strategy.select(full_pool, POOL_SIZE + 1, rng=0)


@pytest.mark.parametrize("budget", [0, -3, 2.5, True])
def test_budget_must_be_a_positive_integer(
    strategy: Strategy, full_pool: Pool, budget: object
) -> None:
    with pytest.raises(InvalidBudgetError, match="budget"):
        strategy.select(full_pool, budget, rng=0)  # type: ignore[arg-type]


def test_empty_pool(strategy: Strategy, full_pool: Pool) -> None:
    with pytest.raises(EmptyPoolError, match="empty"):
        strategy.select(full_pool.subset(np.arange(0)), 1, rng=0)


def test_missing_array_is_named_with_its_fix(strategy: Strategy, full_pool: Pool) -> None:
    for array in strategy.required_arrays():
        drop = {array: None}
        if array == "embeddings":
            drop["labelled_embeddings"] = None
        pool = Pool(**{**_fields(full_pool), **drop})
        with pytest.raises(MissingArrayError, match=rf"'{array}'.*run `flywheel "):
            strategy.select(pool, 5, rng=0)


def test_runs_on_exactly_its_required_arrays(strategy: Strategy, full_pool: Pool) -> None:
    keep = {"sample_ids", "class_names", *strategy.required_arrays()}
    pool = Pool(**{k: v for k, v in _fields(full_pool).items() if k in keep})
    assert len(strategy.select(pool, 10, rng=0)) == 10


def test_random_needs_nothing_for_a_cold_start() -> None:
    pool = Pool(sample_ids=np.array(["a", "b", "c", "d"]))
    assert sorted(get_strategy("random").select(pool, 4, rng=0).sample_ids) == list("abcd")


def _fields(pool: Pool) -> dict[str, Any]:
    return {name: getattr(pool, name) for name in pool.__dataclass_fields__}
