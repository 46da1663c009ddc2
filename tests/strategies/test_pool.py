"""The package's edge: Pool validation, the registry and the public surface."""

from __future__ import annotations

import numpy as np
import pytest

import flywheel.strategies as strategies
from flywheel.errors import ConfigError, FlywheelError
from flywheel.strategies import InvalidPoolError, Pool, Strategy, get_strategy, names


def test_public_surface_is_pinned() -> None:
    assert sorted(strategies.__all__) == [
        "BudgetTooLargeError",
        "ClassBalanced",
        "EmptyPoolError",
        "InvalidBudgetError",
        "InvalidPoolError",
        "MissingArrayError",
        "Modifier",
        "Pool",
        "PriorShift",
        "RngLike",
        "Selection",
        "SkipKnown",
        "Strategy",
        "StrategyError",
        "adjust_probs",
        "compose",
        "estimate_priors_em",
        "get_strategy",
        "names",
    ]


def test_the_cli_names_are_registered() -> None:
    assert names() == [
        "badge",
        "bald",
        "entropy",
        "errors-margin",
        "kcenter",
        "label-errors",
        "least-confidence",
        "margin",
        "random",
    ]
    assert all(isinstance(get_strategy(name), Strategy) for name in names())


def test_unknown_strategy_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown strategy 'coreset'.*kcenter, label-errors"):
        get_strategy("coreset")


def test_unknown_parameter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'margin'"):
        get_strategy("margin", temperature=2)


def ids(n: int) -> np.ndarray:
    return np.array([f"s{i}" for i in range(n)])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sample_ids": ["a", "a"]}, "unique"),
        ({"sample_ids": [["a"]]}, "1-D"),
        ({"probs": [[0.5, 0.5]] * 2}, r"shape \(N, C\) with N=3"),
        ({"probs": [[2.0, -1.0]] * 3}, "softmax outputs, not logits"),
        ({"probs": [[0.5, 0.6]] * 3}, "sum to 1"),
        ({"probs": [[1.0]] * 3}, "at least 2 classes"),
        ({"probs": [[np.nan, 1.0]] * 3}, "NaN"),
        ({"embeddings": [1.0, 2.0, 3.0]}, r"shape \(rows, D\)"),
        ({"embeddings": np.ones((2, 4))}, "2 rows for 3 samples"),
        ({"embeddings": [["x"]] * 3}, "numeric"),
        ({"mc_probs": np.full((1, 3, 2), 0.5)}, "T >= 2"),
        ({"probs": np.full((3, 2), 0.5), "mc_probs": np.full((2, 3, 4), 0.25)}, "disagree"),
        ({"weak_labels": [0, 1.5, 1]}, "integers"),
        ({"weak_labels": [0, -2, 1]}, "-1"),
        ({"probs": np.full((3, 2), 0.5), "weak_labels": [0, 2, 1]}, "weak label 2"),
        ({"labelled_embeddings": np.ones((2, 4))}, "same width"),
        ({"class_names": ["a", "a"]}, "class_names must be unique"),
    ],
)
def test_invalid_pools_are_rejected_once_at_the_edge(fields: dict, message: str) -> None:
    with pytest.raises(InvalidPoolError, match=message) as err:
        Pool(**{"sample_ids": ids(3), **fields})
    assert isinstance(err.value, FlywheelError) and isinstance(err.value, ValueError)


def test_pool_arrays_are_read_only() -> None:
    probs = np.full((3, 2), 0.5)
    pool = Pool(sample_ids=ids(3), probs=probs, weak_labels=np.array([0, -1, 1]))
    assert pool.probs is not None and not pool.probs.flags.writeable
    assert np.shares_memory(pool.probs, probs)  # no copy: 1M x 128 embeddings stay one
    assert pool.num_classes == 2 and len(pool) == 3
