"""Wrap a strategy in the modifiers a run asks for, in the one order that makes sense."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flywheel.strategies.base import Strategy
from flywheel.strategies.class_balanced import ClassBalanced
from flywheel.strategies.prior_shift import PriorShift
from flywheel.strategies.skip_known import SkipKnown


def compose(
    strategy: Strategy,
    *,
    known_ids: Iterable[str] | None = None,
    class_balanced: bool = False,
    prior_shift: bool = False,
    target_priors: Sequence[float] | None = None,
    train_priors: Sequence[float] | None = None,
) -> Strategy:
    """``strategy`` wrapped as SkipKnown(PriorShift(ClassBalanced(strategy))), leaving
    out what is not asked for: known samples go first, so quotas and priors see only
    eligible ones; the prior shift comes before the quotas, so they use shifted classes.
    ``prior_shift`` without ``target_priors`` estimates them from the pool (EM).

    >>> from flywheel.strategies import get_strategy
    >>> compose(get_strategy("margin"), known_ids=["a"], class_balanced=True).describe()
    'skip-known(class-balanced(margin))'
    """
    if class_balanced:
        strategy = ClassBalanced(strategy)
    if prior_shift or target_priors is not None:
        strategy = PriorShift(strategy, target_priors, train_priors)
    if known_ids is not None:
        strategy = SkipKnown(strategy, known_ids)
    return strategy
