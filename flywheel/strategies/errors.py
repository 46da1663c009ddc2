"""The strategies' branch of the exception tree (see ``flywheel.errors``).

Every error here is a ``StrategyError``, hence a ``FlywheelError`` and a ``ValueError``;
each message names the bad value and says how to fix it.
"""

from __future__ import annotations

from flywheel.errors import FlywheelError

__all__ = [
    "BudgetTooLargeError",
    "EmptyPoolError",
    "InvalidBudgetError",
    "InvalidPoolError",
    "MissingArrayError",
    "StrategyError",
]

# Which command fills each optional ``Pool`` array: the fix a missing-array error names.
PRODUCERS = {
    "probs": "run `flywheel score` first",
    "embeddings": "run `flywheel score` first",
    "mc_probs": "run `flywheel score` with MC-dropout samples first",
    "weak_labels": "run `flywheel ingest` with a taxonomy first",
    "labelled_embeddings": "run `flywheel score` on the labelled samples first",
}


class StrategyError(FlywheelError, ValueError):
    """A selection cannot run on the pool or budget it was given."""

    exit_code = 2


class InvalidPoolError(StrategyError):
    """A ``Pool`` array has the wrong shape, dtype or values."""


class EmptyPoolError(StrategyError):
    """The pool holds no samples (left): there is nothing to select."""


class InvalidBudgetError(StrategyError):
    """The budget is not a positive integer."""


class BudgetTooLargeError(InvalidBudgetError):
    """The budget asks for more samples than the pool holds."""

    def __init__(self, budget: int, available: int, where: str = "the pool") -> None:
        super().__init__(
            f"budget {budget} exceeds the {available} samples in {where}; "
            f"lower --budget to at most {available} or ingest more data"
        )
        self.budget = budget
        self.available = available


class MissingArrayError(StrategyError):
    """The strategy needs a ``Pool`` array that is None."""

    def __init__(self, array: str, strategy: str) -> None:
        fix = PRODUCERS.get(array, "provide it")
        super().__init__(
            f"strategy {strategy!r} needs pool array {array!r}, which is missing; {fix}"
        )
        self.array = array
        self.strategy = strategy
