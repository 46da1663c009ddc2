"""Benchmarks that run the flywheel's own code on real data.

Active learning (``flywheel bench active-learning``): every labelling strategy from the
same initial labels, a simulated annotator that answers from the ground truth, a fresh
network per round trained by ``flywheel.train``'s loop, learning curves on a held-out
test set, and how many labels each strategy needs to reach a fraction of the accuracy
of training on the whole pool. With ``--weak-noise`` the pool starts weakly labelled
(some labels wrong, as hashtags are), answers replace weak labels, and summary.json reads
how many labels recover the accuracy the wrong ones cost (``flywheel.bench.weak``).

>>> from flywheel.bench import labels_to_target
>>> labels_to_target([20, 40, 60], [0.70, 0.93, 0.95], target=0.9)
40
"""

from flywheel.bench.config import TARGETS, BenchConfig
from flywheel.bench.report import labels_to_target, summarize
from flywheel.bench.run import BenchResult, run_benchmark
from flywheel.bench.simulate import CurvePoint, Oracle

__all__ = [
    "TARGETS",
    "BenchConfig",
    "BenchResult",
    "CurvePoint",
    "Oracle",
    "labels_to_target",
    "run_benchmark",
    "summarize",
]
