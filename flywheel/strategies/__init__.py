"""Active-learning selection strategies: a pure, vectorised library (NumPy only).

Every module here that defines a ``Strategy`` subclass with a ``name`` registers it:
adding a strategy touches that one module and nothing else. Modifiers
(``ClassBalanced``, ``SkipKnown``, ``PriorShift``) wrap any strategy and are strategies
themselves, so the caller never asks which one it holds.

>>> import numpy as np
>>> pool = Pool(sample_ids=["a", "b", "c"], probs=[[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]])
>>> get_strategy("margin").select(pool, budget=2, rng=0).sample_ids.tolist()
['b', 'c']
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

from flywheel.errors import ConfigError
from flywheel.strategies.base import Modifier, RngLike, Strategy
from flywheel.strategies.class_balanced import ClassBalanced
from flywheel.strategies.compose import compose
from flywheel.strategies.errors import (
    BudgetTooLargeError,
    EmptyPoolError,
    InvalidBudgetError,
    InvalidPoolError,
    MissingArrayError,
    StrategyError,
)
from flywheel.strategies.pool import Pool, Selection
from flywheel.strategies.prior_shift import PriorShift, adjust_probs, estimate_priors_em
from flywheel.strategies.skip_known import SkipKnown

__all__ = [
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


@cache
def _registry() -> dict[str, type[Strategy]]:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    found: dict[str, type[Strategy]] = {}
    stack = list(Strategy.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        name = cls.__dict__.get("name")  # its own, not one inherited from a parent
        if name:
            if name in found and found[name] is not cls:
                raise ConfigError(f"two strategies are named {name!r}: {found[name]} and {cls}")
            found[name] = cls
    return found


def names() -> list[str]:
    """The registered strategy names (the CLI's ``--strategy`` choices), sorted."""
    return sorted(_registry())


def get_strategy(name: str, **params: object) -> Strategy:
    """An instance of the strategy called ``name``, built with ``params``."""
    try:
        cls = _registry()[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; valid strategies: {', '.join(names())}"
        ) from None
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as err:
        raise ConfigError(f"strategy {name!r}: {err}") from None
    return cls(**params)
