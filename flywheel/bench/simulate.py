"""One learning curve: the loop of the flywheel with a simulated annotator.

    labelled = init random pool samples          (the same ones for every strategy)
    repeat:  train a fresh network on labelled   -> test accuracy: one curve point
             score the unlabelled pool           (only what the strategy reads)
             strategy picks ``step`` samples     -> the annotator answers them
    until ``budget`` labels

The loop only speaks the ``Strategy`` interface: it asks which pool arrays the
strategy reads (``required_arrays``), never which strategy it holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from flywheel.bench.config import BenchConfig
from flywheel.bench.data import BenchData
from flywheel.bench.learner import Learner
from flywheel.networks import Classifier
from flywheel.strategies import Pool, Strategy, get_strategy

Progress = Callable[[str], None]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CurvePoint:
    """Test accuracy of the network trained on ``n_labels`` labels."""

    strategy: str
    seed: int
    n_labels: int
    accuracy: float


class Oracle:
    """Answers every pick from the ground truth: a perfect, instant annotator with no
    queue between (the textbook active-learning setting). Not a vendor: the one
    simulated vendor, which works through the HTTP API, is ``flywheel.sim``'s."""

    def __init__(self, truth: IntArray) -> None:
        self._truth = truth  # (P,) class index per pool sample

    def answer(self, indices: IntArray) -> IntArray:
        """Labels (k,) for the pool samples at ``indices`` (k,)."""
        return self._truth[indices]


def initial_labels(pool_size: int, init: int, seed: int) -> IntArray:
    """The ``init`` random pool indices every strategy starts from under ``seed``."""
    return np.random.default_rng([seed, 0]).choice(pool_size, init, replace=False)


def training_rows(
    media: pa.Table,
    indices: IntArray,
    labels: IntArray,
    weights: npt.NDArray[np.float32] | None = None,
) -> pa.Table:
    """The labelled samples as ``_train_epoch`` reads them: media, label, weight
    (``weights`` (k,), default 1 each)."""
    rows = media.take(pa.array(indices))
    rows = rows.append_column("label", pa.array(labels.astype(np.int32)))
    if weights is None:
        weights = np.ones(len(indices), np.float32)
    return rows.append_column("weight", pa.array(weights.astype(np.float32)))


class Answers:
    """The samples answered so far and their true labels (no weak labels: the textbook
    setting); ``weak.WeakPool`` is the same for the weak-label mode."""

    weak_labels: IntArray | None = None  # the strategy sees no weak labels here

    def __init__(self, data: BenchData, init: IntArray) -> None:
        self._annotator = Oracle(data.pool_labels)
        self.answered, self.labels = init, self._annotator.answer(init)  # (A,), (A,)

    def answer(self, picks: IntArray) -> None:
        self.answered = np.concatenate([self.answered, picks])
        self.labels = np.concatenate([self.labels, self._annotator.answer(picks)])


class Answering(Protocol):
    answered: IntArray  # (A,) pool indices answered so far

    @property
    def weak_labels(self) -> IntArray | None: ...  # (P,) what the strategy sees, if any

    def answer(self, picks: IntArray) -> None: ...


def run_curve(
    config: BenchConfig,
    data: BenchData,
    learner: Learner,
    strategy_name: str,
    seed: int,
    progress: Progress,
) -> list[CurvePoint]:
    """The learning curve of one strategy from the initial set of ``seed``."""
    state = Answers(data, initial_labels(data.pool_size, config.init, seed))

    def net_at(round_: int) -> Classifier:
        # Same initial weights for every strategy at a given seed and round.
        rows = training_rows(data.pool, state.answered, state.labels)
        return learner.fit(rows, seed * 10_000 + round_)

    return run_rounds(config, data, learner, strategy_name, seed, progress, state, net_at)


def run_rounds(
    config: BenchConfig,
    data: BenchData,
    learner: Learner,
    strategy_name: str,
    seed: int,
    progress: Progress,
    state: Answering,
    net_at: Callable[[int], Classifier],
) -> list[CurvePoint]:
    """The rounds of one curve: the network of each round (``net_at``) gives a point,
    then the strategy picks up to ``step`` more samples and ``state`` answers them."""
    strategy = get_strategy(strategy_name)
    points: list[CurvePoint] = []
    for round_ in range(config.rounds):
        start = time.monotonic()
        net = net_at(round_)
        accuracy = learner.accuracy(net, data.test)
        points.append(CurvePoint(strategy_name, seed, len(state.answered), accuracy))
        if len(state.answered) < config.budget:
            k = min(config.step, config.budget - len(state.answered))
            rng = np.random.default_rng([seed, round_ + 1])
            picks = select_next(
                strategy, learner, net, data, state.answered, k, rng, state.weak_labels
            )
            state.answer(picks)
        progress(
            f"[{strategy_name} seed {seed}] round {round_ + 1}/{config.rounds}: "
            f"{points[-1].n_labels} labels, test accuracy {accuracy:.4f} "
            f"({time.monotonic() - start:.1f} s)"
        )
    return points


def select_next(
    strategy: Strategy,
    learner: Learner,
    net: Classifier,
    data: BenchData,
    labelled: IntArray,
    k: int,
    rng: np.random.Generator,
    weak_labels: IntArray | None = None,
) -> IntArray:
    """Pool indices (k,) of the unlabelled samples ``strategy`` picks next;
    ``weak_labels`` (P,) are the pool's current labels in weak-label mode."""
    unlabelled = np.setdiff1d(np.arange(data.pool_size), labelled)  # (U,) sorted
    weak = None if weak_labels is None else weak_labels[unlabelled]
    pool = build_pool(strategy, learner, net, data, labelled, unlabelled, weak)
    return unlabelled[strategy.select(pool, k, rng).indices]


def build_pool(
    strategy: Strategy,
    learner: Learner,
    net: Classifier,
    data: BenchData,
    labelled: IntArray,
    unlabelled: IntArray,
    weak_labels: IntArray | None = None,
) -> Pool:
    """The unlabelled samples with the arrays ``strategy`` reads (none: no scoring);
    ``weak_labels`` (U,) are theirs, in weak-label mode."""
    ids = unlabelled.astype(str)  # (U,) sample ids: pool positions
    needs = strategy.required_arrays()
    if not set(needs) - {"weak_labels"}:
        return Pool(sample_ids=ids, class_names=data.class_names, weak_labels=weak_labels)
    scores = learner.score(net, data.pool, with_mc="mc_probs" in needs)  # the whole pool
    return Pool(
        sample_ids=ids,
        probs=scores.probs[unlabelled],
        embeddings=scores.embeddings[unlabelled],
        mc_probs=None if scores.mc_probs is None else scores.mc_probs[:, unlabelled],
        class_names=data.class_names,
        # Centers diversity must cover (none yet on a weak-label cold start).
        labelled_embeddings=scores.embeddings[labelled] if len(labelled) else None,
        weak_labels=weak_labels,
    )


def full_data_accuracy(data: BenchData, learner: Learner, seed: int, progress: Progress) -> float:
    """Test accuracy of the same training on the whole pool, every label answered."""
    start = time.monotonic()
    everything = np.arange(data.pool_size)
    answers = Oracle(data.pool_labels).answer(everything)
    net = learner.fit(training_rows(data.pool, everything, answers), seed * 10_000 + 9_999)
    accuracy = learner.accuracy(net, data.test)
    progress(
        f"[full data seed {seed}] {data.pool_size} labels, test accuracy {accuracy:.4f} "
        f"({time.monotonic() - start:.1f} s)"
    )
    return accuracy
