"""What an active-learning benchmark run is asked to do, checked once, up front.

Everything a user can get wrong without loading data is rejected in ``__post_init__``
(a ``ConfigError`` naming the bad value and the fix); what needs the data (a budget
larger than the pool, an unknown dataset) is checked by ``flywheel.bench.data`` before
any training starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flywheel.errors import ConfigError
from flywheel.strategies import get_strategy

# Fractions of the full-data accuracy that summary.json reports labels for.
TARGETS = (0.95, 0.99)


@dataclass(frozen=True)
class BenchConfig:
    """One ``flywheel bench active-learning`` run.

    Rounds: ``init`` random labels, then ``step`` more per round until ``budget``
    (the last step may be smaller). Each round trains a fresh network for ``epochs``
    passes over the labelled set, but at least ``min_steps`` optimizer steps in all,
    so the first rounds (a handful of labels) are not undertrained.

    >>> BenchConfig("digits", ("random", "margin"), budget=60, step=20, init=20).rounds
    3
    """

    dataset: str
    strategies: tuple[str, ...]
    budget: int
    step: int
    init: int
    seeds: int = 3
    out: Path = Path("bench-out")
    epochs: int = 10
    pool_size: int | None = None  # subsample the pool to this many (default: all)
    test_size: int | None = None  # held-out test samples (default: 20%, at most 2,000)
    min_steps: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    mc_passes: int = 10  # T: MC-dropout passes through the head, for strategies that read them
    arch: str | None = None  # default: the image arch whose input size is the data's
    workers: int = 1  # >1: run (strategy, seed) curves as that many parallel Ray tasks
    split_seed: int = 0  # fixes the test / pool split (seeds vary only the labelled sets)

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ConfigError("--strategies is empty; give e.g. random,margin,badge")
        if len(set(self.strategies)) != len(self.strategies):
            raise ConfigError(f"--strategies names one twice: {','.join(self.strategies)}")
        for name in self.strategies:
            _check_labelling_strategy(name)
        _check_at_least(1, init=self.init, step=self.step, seeds=self.seeds)
        _check_at_least(1, epochs=self.epochs, batch_size=self.batch_size)
        _check_at_least(1, workers=self.workers)
        _check_at_least(0, min_steps=self.min_steps)
        _check_at_least(2, mc_passes=self.mc_passes)  # BALD needs T >= 2 passes
        if self.budget < self.init:
            raise ConfigError(
                f"--budget {self.budget} is smaller than --init {self.init}; "
                "the budget counts the initial labels too"
            )
        if self.pool_size is not None and self.pool_size < self.budget:
            raise ConfigError(
                f"--pool-size {self.pool_size} is smaller than --budget {self.budget}"
            )
        if self.test_size is not None and self.test_size < 1:
            raise ConfigError(f"--test-size must be at least 1, got {self.test_size}")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")

    @property
    def rounds(self) -> int:
        """Points on each learning curve: init, init + step, ..., budget."""
        return 1 + -(-(self.budget - self.init) // self.step)

    def to_json(self) -> dict[str, Any]:
        """The settings as summary.json records them."""
        settings = asdict(self)
        settings["out"] = str(self.out)
        settings["strategies"] = list(self.strategies)
        return settings


def _check_labelling_strategy(name: str) -> None:
    strategy = get_strategy(name)  # ConfigError listing the valid names if unknown
    if strategy.task_kind != "label":
        raise ConfigError(
            f"strategy {name!r} picks samples to {strategy.task_kind}, not to label; "
            "the benchmark compares labelling strategies only"
        )


def _check_at_least(low: int, **values: int) -> None:
    for name, value in values.items():
        if value < low:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} must be at least {low}, got {value}")
