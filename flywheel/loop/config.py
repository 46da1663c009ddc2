"""``LoopConfig``: one controller's settings, as the CLI, a job or the demo builds them.

It composes the stages' own configs instead of repeating their fields: the loop selects
with its ``SelectConfig``, trains each candidate with its ``TrainConfig``, rescores with
its ``ScoreConfig`` and gates with its ``GateConfig``; what the loop itself decides per
step (which model to train from and to score with, a batch's size when the pool runs
out) is filled in by the step with ``dataclasses.replace``. The loop's own fields say
when: how often to poll, when to retrain, when to select, when to stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flywheel.errors import ConfigError
from flywheel.loop.defaults import DEFAULT_BUDGET, DEFAULT_STRATEGY, PAUSE_POINTS
from flywheel.loop.gates import GateConfig
from flywheel.score import ScoreConfig
from flywheel.selection import SelectConfig
from flywheel.train import PROMOTED_ALIAS, TrainConfig

__all__ = ["DEFAULT_BUDGET", "DEFAULT_STRATEGY", "PAUSE_POINTS", "LoopConfig", "default_select"]


def default_select() -> SelectConfig:
    """The loop's selection unless told: ``DEFAULT_STRATEGY``, ``DEFAULT_BUDGET``, seed 0."""
    return SelectConfig(strategy=DEFAULT_STRATEGY, budget=DEFAULT_BUDGET, seed=0)


@dataclass(frozen=True)
class LoopConfig:
    """What the loop does each tick, and when it retrains.

    ``select`` gets the loop's ``queue`` and the gates' blocklist filled in (they are
    given once, here): the ``SelectConfig`` the loop holds is the one each batch uses.

    >>> config = LoopConfig(queue="digits", select=SelectConfig("margin", budget=20))
    >>> config.low_water_mark, config.select.queue
    (10, 'digits')
    """

    queue: str
    select: SelectConfig = field(default_factory=default_select)
    train: TrainConfig = field(default_factory=TrainConfig)  # a candidate's fine-tuning
    score: ScoreConfig = field(default_factory=ScoreConfig)  # rescoring by the promoted model
    gates: GateConfig = field(default_factory=GateConfig)
    min_new_labels: int | None = None  # retrain after this many new labels (default: budget)
    every_s: float | None = None  # ... or when this period passed (and any label is new)
    rounds: int | None = None  # stop after this many rounds (None: until stopped)
    poll_s: float = 5.0  # sleep between ticks with nothing to do
    low_water: int | None = None  # select when this few tasks are open (default: budget // 2)
    max_idle_s: float | None = None  # stop after waiting this long with nothing to do
    name: str = "default"  # one state row per loop name
    stale_after_s: float = 60.0  # a holder silent this long is taken to be dead
    pause_at: tuple[str, ...] = ()  # test hook: stop and wait at these points

    def __post_init__(self) -> None:
        budget = self.select.budget
        if budget < 1:
            raise ConfigError(f"--budget must be at least 1, got {budget}")
        if self.min_new_labels is not None and self.min_new_labels < 1:
            raise ConfigError(f"--min-new-labels must be at least 1, got {self.min_new_labels}")
        if self.rounds is not None and self.rounds < 1:
            raise ConfigError(f"--rounds must be at least 1, got {self.rounds}")
        if self.poll_s <= 0 or (self.every_s is not None and self.every_s <= 0):
            raise ConfigError("--poll and --every must be positive seconds")
        if self.low_water is not None and not 0 <= self.low_water < budget:
            raise ConfigError(
                f"--low-water {self.low_water} must be in [0, budget {budget}): "
                "the next batch is selected when the queue holds at most this many tasks"
            )
        unknown = sorted(set(self.pause_at) - set(PAUSE_POINTS))
        if unknown:
            raise ConfigError(f"unknown pause points {unknown}; valid: {', '.join(PAUSE_POINTS)}")
        self._check_owned_by_the_loop()
        select = replace(self.select, queue=self.queue, blocklist=self.gates.blocklist)
        object.__setattr__(self, "select", select)

    def _check_owned_by_the_loop(self) -> None:
        """Fields of the sub-configs that the loop sets itself must be left unset."""
        if self.select.queue not in (None, self.queue):
            raise ConfigError(
                f"the loop selects into its own queue {self.queue!r}, not {self.select.queue!r}"
            )
        if self.select.blocklist and self.select.blocklist != self.gates.blocklist:
            raise ConfigError("give the blocklist once, in the gates' config (--blocklist)")
        if self.train.from_version or self.train.init_checkpoint:
            raise ConfigError(
                "the loop trains each candidate from the promoted model: "
                "give no from_version or init_checkpoint"
            )
        if PROMOTED_ALIAS not in (self.score.model, self.select.model) or (
            self.score.model != self.select.model
        ):
            raise ConfigError("the loop scores and selects with the promoted model: give no model")

    @property
    def label_threshold(self) -> int:
        return self.min_new_labels if self.min_new_labels is not None else self.select.budget

    @property
    def low_water_mark(self) -> int:
        return self.low_water if self.low_water is not None else self.select.budget // 2
