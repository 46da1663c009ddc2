"""``LoopConfig``: one controller's settings, as the CLI, a job or the demo builds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.config import DEFAULT_EPOCHS
from flywheel.errors import ConfigError
from flywheel.loop.gates import GateConfig

PAUSE_POINTS = ("export", "train", "gate", "score", "select")
# The loop's strategy unless told: chosen from the weak-label benchmark
# (docs/decisions/loop-default-strategy.md, docs/benchmarks.md).
DEFAULT_STRATEGY = "margin"


@dataclass(frozen=True)
class LoopConfig:
    """What the loop does each tick, and when it retrains.

    >>> LoopConfig(queue="digits", budget=20).low_water_mark
    10
    """

    queue: str
    strategy: str = DEFAULT_STRATEGY
    budget: int = 50  # samples selected per batch
    min_new_labels: int | None = None  # retrain after this many new labels (default: budget)
    every_s: float | None = None  # ... or when this period passed (and any label is new)
    rounds: int | None = None  # stop after this many rounds (None: until stopped)
    poll_s: float = 5.0  # sleep between ticks with nothing to do
    low_water: int | None = None  # select when this few tasks are open (default: budget // 2)
    max_idle_s: float | None = None  # stop after waiting this long with nothing to do
    # training (a candidate fine-tunes the promoted model)
    epochs: int = DEFAULT_EPOCHS
    workers: int = 1
    batch_size: int = 32
    lr: float = 1e-3
    weak_weight: float = 0.3
    arch: str | None = None  # only for a first model, when none is promoted yet
    seed: int = 0
    # scoring and selection
    mc_passes: int = 10
    score_batch_size: int = 256
    class_balanced: bool = False
    gates: GateConfig = field(default_factory=GateConfig)
    name: str = "default"  # one state row per loop name
    stale_after_s: float = 60.0  # a holder silent this long is taken to be dead
    pause_at: tuple[str, ...] = ()  # test hook: stop and wait at these points

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ConfigError(f"--budget must be at least 1, got {self.budget}")
        if self.min_new_labels is not None and self.min_new_labels < 1:
            raise ConfigError(f"--min-new-labels must be at least 1, got {self.min_new_labels}")
        if self.rounds is not None and self.rounds < 1:
            raise ConfigError(f"--rounds must be at least 1, got {self.rounds}")
        if self.poll_s <= 0 or (self.every_s is not None and self.every_s <= 0):
            raise ConfigError("--poll and --every must be positive seconds")
        if self.low_water is not None and not 0 <= self.low_water < self.budget:
            raise ConfigError(
                f"--low-water {self.low_water} must be in [0, budget {self.budget}): "
                "the next batch is selected when the queue holds at most this many tasks"
            )
        unknown = sorted(set(self.pause_at) - set(PAUSE_POINTS))
        if unknown:
            raise ConfigError(f"unknown pause points {unknown}; valid: {', '.join(PAUSE_POINTS)}")

    @property
    def label_threshold(self) -> int:
        return self.min_new_labels if self.min_new_labels is not None else self.budget

    @property
    def low_water_mark(self) -> int:
        return self.low_water if self.low_water is not None else self.budget // 2
