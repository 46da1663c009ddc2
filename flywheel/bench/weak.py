"""Weak-label mode: the pool starts with a weak label on every sample, some wrong, and
annotations replace them, as in the flywheel (hashtags, then a vendor).

    labels = weak labels (each wrong with probability P), init of them answered
    round 0: train from scratch on the pool (weak weight 0.3, answered 1)
    repeat:  test accuracy: one curve point
             strategy picks ``step`` unanswered samples (it sees their weak labels)
             the annotator's true labels replace their weak ones (weight 1)
             fine-tune the previous round's network for ``round_epochs`` passes
    until ``budget`` answers

Wrong labels: ``uniform`` draws any other class; ``confusable`` always the class's fixed
look-alike (``confusion_partner``), so the noise is systematic, as wrong hashtags are.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from flywheel.bench.config import BenchConfig
from flywheel.bench.data import BenchData
from flywheel.bench.learner import Learner
from flywheel.bench.simulate import (
    CurvePoint,
    IntArray,
    Oracle,
    Progress,
    initial_labels,
    run_rounds,
    training_rows,
)
from flywheel.datasets import DIGIT_CLASSES, FASHION_CLASSES
from flywheel.networks import Classifier
from flywheel.train import TrainConfig

# The weight ``flywheel train`` gives a weak label (a consolidated one weighs 1).
WEAK_WEIGHT = TrainConfig.weak_weight
# Look-alike pairs: each class's wrong weak label under ``confusable`` noise.
_PAIRS: dict[tuple[str, ...], tuple[tuple[int, int], ...]] = {
    DIGIT_CLASSES: ((4, 9), (3, 5), (1, 7), (0, 6), (2, 8)),
    # t-shirt/shirt, pullover/coat, sneaker/ankle-boot, trouser/dress, sandal/bag
    FASHION_CLASSES: ((0, 6), (2, 4), (7, 9), (1, 3), (5, 8)),
}


def confusion_partner(class_names: tuple[str, ...]) -> IntArray:
    """(C,) the class each class is mistaken for: a fixed pairing of look-alikes for
    digits, MNIST and Fashion-MNIST; k -> k + 1 mod C for any other data set.

    >>> confusion_partner(("a", "b", "c")).tolist()
    [1, 2, 0]
    """
    n = len(class_names)
    partner = (np.arange(n) + 1) % n
    for a, b in _PAIRS.get(class_names, ()):
        partner[a], partner[b] = b, a
    return partner.astype(np.int64)


def make_weak_labels(
    truth: IntArray, class_names: tuple[str, ...], noise: float, kind: str, seed: int
) -> IntArray:
    """(P,) weak labels: ``truth`` (P,), each replaced with probability ``noise`` by
    another class, drawn uniformly (``kind`` "uniform") or its look-alike ("confusable")."""
    rng = np.random.default_rng([seed, 7])
    n = len(class_names)
    wrong = rng.random(len(truth)) < noise  # (P,)
    if kind == "confusable":
        other = confusion_partner(class_names)[truth]
    else:  # a uniform draw among the n - 1 other classes
        other = (truth + rng.integers(1, n, len(truth))) % n
    return np.where(wrong, other, truth).astype(np.int64)


class WeakPool:
    """The pool's current labels at one seed: weak (each wrong with probability
    ``config.weak_noise``) until the annotator answers, then true."""

    def __init__(self, config: BenchConfig, data: BenchData, seed: int) -> None:
        assert config.weak_noise is not None
        self.data = data
        self.weak = make_weak_labels(
            data.pool_labels, data.class_names, config.weak_noise, config.noise_kind, seed
        )
        self.labels = self.weak.copy()  # (P,) what training reads
        self.answered = np.zeros(0, np.int64)  # (A,) pool indices answered so far
        self._annotator = Oracle(data.pool_labels)

    @property
    def weak_labels(self) -> IntArray:
        """(P,) what a strategy sees: the current labels, weak until answered."""
        return self.labels

    def answer(self, picks: IntArray) -> None:
        """The annotator's labels for ``picks`` (k,) replace their weak ones."""
        self.labels[picks] = self._annotator.answer(picks)
        self.answered = np.concatenate([self.answered, picks])

    def rows(self) -> pa.Table:
        """Every pool sample: its answer (weight 1) if answered, else its weak label
        weighted as ``flywheel train`` weighs one."""
        weights = np.full(self.data.pool_size, WEAK_WEIGHT, np.float32)
        weights[self.answered] = 1.0
        return training_rows(self.data.pool, np.arange(self.data.pool_size), self.labels, weights)


def run_weak_curve(
    config: BenchConfig,
    data: BenchData,
    learner: Learner,
    strategy_name: str,
    seed: int,
    progress: Progress,
) -> list[CurvePoint]:
    """The weak-label learning curve of one strategy at ``seed``."""
    pool = WeakPool(config, data, seed)
    pool.answer(initial_labels(data.pool_size, config.init, seed))
    net = _round_zero(learner, pool, seed)

    def net_at(round_: int) -> Classifier:
        if round_:  # warm start: the previous round's network, trained further
            learner.fine_tune(net, pool.rows(), seed * 10_000 + round_, config.round_epochs)
        return net

    return run_rounds(config, data, learner, strategy_name, seed, progress, pool, net_at)


def weak_only_accuracy(
    config: BenchConfig, data: BenchData, learner: Learner, seed: int, progress: Progress
) -> float:
    """Test accuracy of round 0 without any answer: the weak labels alone."""
    start = time.monotonic()
    pool = WeakPool(config, data, seed)
    accuracy = learner.accuracy(_round_zero(learner, pool, seed), data.test)
    wrong = float(np.mean(pool.weak != data.pool_labels))
    progress(
        f"[weak only seed {seed}] {wrong:.1%} of {data.pool_size} weak labels wrong, "
        f"test accuracy {accuracy:.4f} ({time.monotonic() - start:.1f} s)"
    )
    return accuracy


def _round_zero(learner: Learner, pool: WeakPool, seed: int) -> Classifier:
    """Trained from scratch on the weak labels and the initial answers: the same
    network for every strategy at ``seed`` (and the weak-only one when init is 0)."""
    key = (seed, np.sort(pool.answered).tobytes())
    return learner.fit_cached(key, pool.rows(), seed * 10_000)
