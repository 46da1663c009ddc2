"""The mix strategy: its share of picks by each inner strategy, interleaved."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ConfigError
from flywheel.strategies import Pool, get_strategy

from .conftest import Digits


@pytest.fixture
def weak_pool(digits: Digits) -> Pool:
    weak = digits.y.copy()
    weak[::5] = (weak[::5] + 3) % 10  # every fifth weak label wrong
    return digits.pool(weak_labels=weak)


@pytest.mark.parametrize("budget", [10, 11])
def test_errors_margin_is_half_label_errors_half_margin(weak_pool: Pool, budget: int) -> None:
    picks = get_strategy("errors-margin").select(weak_pool, budget, rng=0).indices
    first = (budget + 1) // 2  # label-errors gets the odd one
    errors = get_strategy("label-errors").select(weak_pool, first, rng=0).indices
    assert set(picks[::2][:first]) == set(errors) and picks[0] == errors[0]
    others = np.setdiff1d(np.arange(len(weak_pool)), errors)
    margin = get_strategy("margin").select(weak_pool.subset(others), budget - first, rng=0)
    assert set(picks) - set(errors) == set(others[margin.indices])
    assert len(set(picks)) == budget


def test_errors_margin_fraction(weak_pool: Pool) -> None:
    all_errors = get_strategy("errors-margin", fraction=1.0).select(weak_pool, 8, rng=0)
    errors = get_strategy("label-errors").select(weak_pool, 8, rng=0)
    assert all_errors.indices.tolist() == errors.indices.tolist()
    with pytest.raises(ConfigError, match=r"mix fraction must be in \[0, 1\], got 1.5"):
        get_strategy("errors-margin", fraction=1.5)
