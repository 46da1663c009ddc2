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
# Weak-label mode: fractions of the weak-only -> clean accuracy gap to report labels for.
RECOVER = (0.9, 1.0)
NOISE_KINDS = ("uniform", "confusable")


@dataclass(frozen=True)
class BenchConfig:
    """One ``flywheel bench active-learning`` run.

    Rounds: ``init`` random labels, then ``step`` more per round until ``budget``
    (the last step may be smaller). Each round trains a fresh network for ``epochs``
    passes over the labelled set, but at least ``min_steps`` optimizer steps in all,
    so the first rounds (a handful of labels) are not undertrained.

    Weak-label mode (``weak_noise`` set): every pool sample also carries a weak label,
    wrong with probability ``weak_noise``. Round 0 trains from scratch on all of them
    (weak labels weighted as ``flywheel train`` weighs them) plus ``init`` true labels;
    each later round's annotations replace weak labels and the previous round's
    network fine-tunes for ``round_epochs`` passes over the pool (as the loop does).

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
    # Weak-label mode (None: off): each pool label is wrong with this probability.
    weak_noise: float | None = None
    noise_kind: str = "uniform"  # how a wrong weak label is drawn (NOISE_KINDS)
    round_epochs: int = 1  # weak mode: passes over the pool a round fine-tunes for

    @property
    def weak(self) -> bool:
        """Weak-label mode: the pool starts weakly labelled, annotations replace labels."""
        return self.weak_noise is not None

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ConfigError("--strategies is empty; give e.g. random,margin,badge")
        if len(set(self.strategies)) != len(self.strategies):
            raise ConfigError(f"--strategies names one twice: {','.join(self.strategies)}")
        for name in self.strategies:
            _check_labelling_strategy(name, self.weak)
        self._check_weak()
        _check_at_least(0 if self.weak else 1, init=self.init)  # weak labels: a cold start
        _check_at_least(1, step=self.step, seeds=self.seeds, round_epochs=self.round_epochs)
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

    def _check_weak(self) -> None:
        if self.noise_kind not in NOISE_KINDS:
            raise ConfigError(
                f"--noise-kind {self.noise_kind!r} is unknown; valid kinds: {', '.join(NOISE_KINDS)}"
            )
        if self.weak_noise is not None and not 0.0 <= self.weak_noise < 1.0:
            raise ConfigError(
                f"--weak-noise must be in [0, 1) (the chance a weak label is wrong), "
                f"got {self.weak_noise}"
            )

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


def _check_labelling_strategy(name: str, weak: bool) -> None:
    """Without weak labels only strategies that pick samples to label and read no weak
    labels fit; with them, a verify pick is answered with its true label too."""
    strategy = get_strategy(name)  # ConfigError listing the valid names if unknown
    if weak:
        return
    if strategy.task_kind != "label":
        raise ConfigError(
            f"strategy {name!r} picks samples to {strategy.task_kind}, not to label; "
            "the benchmark compares labelling strategies only (or give --weak-noise)"
        )
    if "weak_labels" in strategy.required_arrays():
        raise ConfigError(
            f"strategy {name!r} reads weak labels; give --weak-noise P to start the pool "
            "weakly labelled"
        )


def _check_at_least(low: int, **values: int) -> None:
    for name, value in values.items():
        if value < low:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} must be at least {low}, got {value}")
