"""The loop's defaults, in a module that imports nothing: ``flywheel loop --help`` shows
them without loading the stages (``flywheel.loop.config`` imports the trainer, hence
torch and Ray). ``flywheel.loop.config`` builds its ``LoopConfig`` from these."""

from __future__ import annotations

# The points the loop can stop and wait at (a test hook, ``--pause-at``).
PAUSE_POINTS = ("export", "train", "gate", "score", "select")
# The loop's strategy unless told: chosen from the weak-label benchmark
# (docs/decisions/loop-default-strategy.md, docs/benchmarks.md).
DEFAULT_STRATEGY = "margin"
DEFAULT_BUDGET = 50  # samples selected per batch
