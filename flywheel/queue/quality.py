"""Label quality: votes, gold accuracy and Dawid-Skene, as plain NumPy.

Answers come as three aligned integer arrays of length R (one entry per answer):
``items`` (0..I-1), ``annotators`` (0..A-1) and ``labels`` (0..C-1). The functions here
trust nothing about the database; ``flywheel.queue.answers`` feeds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# An annotator nobody has measured yet is assumed right this often, with the weight of
# this many answers; gold answers then move the estimate (a Beta prior on accuracy).
PRIOR_ACCURACY = 0.75
PRIOR_STRENGTH = 4.0


@dataclass(frozen=True)
class Decision:
    """How one task's label was decided.

    >>> d = weighted_vote(["cat", "cat", "dog"], [1.0, 1.0, 1.0])
    >>> d.label, d.method, d.votes, round(d.agreement, 2)
    ('cat', 'majority', {'cat': 2, 'dog': 1}, 0.67)
    """

    label: str
    method: str  # single | majority | weighted
    votes: dict[str, int]
    agreement: float  # winner's share of the answers
    confidence: float  # winner's share of the weighted votes
    n_answers: int


def weighted_vote(answers: Sequence[str], weights: Sequence[float]) -> Decision:
    """The label with the largest summed weight; ties go to the most raw votes, then to
    the label seen first. Equal weights make it a plain majority vote."""
    if not answers or len(answers) != len(weights):
        raise ValueError("weighted_vote needs one weight per answer, and at least one answer")
    votes: dict[str, int] = {}
    score: dict[str, float] = {}
    for answer, weight in zip(answers, weights, strict=True):
        votes[answer] = votes.get(answer, 0) + 1
        score[answer] = score.get(answer, 0.0) + weight
    order = list(votes)  # first-seen order
    label = max(order, key=lambda a: (score[a], votes[a], -order.index(a)))
    total = sum(score.values())
    n = len(answers)
    equal = max(weights) - min(weights) < 1e-9
    method = "single" if n == 1 else "majority" if equal else "weighted"
    return Decision(
        label=label,
        method=method,
        votes=votes,
        agreement=votes[label] / n,
        confidence=score[label] / total if total > 0 else votes[label] / n,
        n_answers=n,
    )


def estimate_accuracy(
    correct: float, answered: float, prior: float = PRIOR_ACCURACY, strength: float = PRIOR_STRENGTH
) -> float:
    """Posterior mean accuracy from ``correct`` of ``answered`` gold answers.

    >>> estimate_accuracy(0, 0)
    0.75
    >>> round(estimate_accuracy(10, 10), 3)
    0.929
    """
    return (correct + prior * strength) / (answered + strength)


def accuracy_weight(accuracy: float, n_choices: int) -> float:
    """Vote weight of an annotator right with probability ``accuracy`` among
    ``n_choices`` options: the log-odds of the one-coin model, never below 0 (an
    annotator worse than chance is ignored, not inverted).

    >>> round(accuracy_weight(0.75, 2), 3)
    1.099
    """
    acc = min(max(accuracy, 1e-3), 1 - 1e-3)
    return max(0.0, math.log((n_choices - 1) * acc / (1 - acc)))


def majority_vote(
    items: IntArray, labels: IntArray, n_items: int, n_classes: int
) -> tuple[IntArray, FloatArray]:
    """Per item: the most voted class (ties to the lower index) and its vote share.
    Items without answers get class -1 and share 0.

    >>> majority_vote(np.array([0, 0, 0, 1]), np.array([2, 2, 1, 0]), 2, 3)
    (array([2, 0]), array([0.66666667, 1.        ]))
    """
    counts = np.bincount(items * n_classes + labels, minlength=n_items * n_classes)
    counts = counts.reshape(n_items, n_classes)  # (I, C)
    totals = counts.sum(axis=1)
    winner = counts.argmax(axis=1)
    share = np.divide(counts.max(axis=1), totals, out=np.zeros(n_items), where=totals > 0)
    return np.where(totals > 0, winner, -1), share


@dataclass(frozen=True)
class DawidSkene:
    """What Dawid-Skene estimated. ``accuracy[a]`` is the share of annotator ``a``'s
    answers that agree with the estimated true class (posterior-weighted)."""

    posteriors: FloatArray  # (I, C)
    labels: IntArray  # (I,)
    priors: FloatArray  # (C,)
    confusion: FloatArray  # (A, C, C): P(answer l | true class c) = confusion[a, c, l]
    accuracy: FloatArray  # (A,)
    n_answers: IntArray  # (A,)
    iterations: int


def dawid_skene(
    items: IntArray,
    annotators: IntArray,
    labels: IntArray,
    n_classes: int,
    known: Mapping[int, int] | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> DawidSkene:
    """Dawid & Skene (1979) EM over all answers at once.

    ``known`` maps item -> true class for gold items: their posteriors stay fixed, which
    anchors the confusion matrices (and removes the label-swap ambiguity).
    """
    items, annotators, labels = (np.asarray(a, dtype=np.int64) for a in (items, annotators, labels))
    if not (len(items) == len(annotators) == len(labels)) or len(items) == 0:
        raise ValueError("items, annotators and labels must be equally long and non-empty")
    if n_classes < 2 or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be class indices in 0..{n_classes - 1}")
    if items.min() < 0 or annotators.min() < 0:
        raise ValueError("items and annotators must be non-negative indices")
    return _dawid_skene(items, annotators, labels, n_classes, dict(known or {}), max_iter, tol)


def _dawid_skene(
    items: IntArray,
    annotators: IntArray,
    labels: IntArray,
    n_classes: int,
    known: dict[int, int],
    max_iter: int,
    tol: float,
) -> DawidSkene:
    n_items, n_annot, c = int(items.max()) + 1, int(annotators.max()) + 1, n_classes
    known_items = np.fromiter(known.keys(), dtype=np.int64, count=len(known))
    known_labels = np.fromiter(known.values(), dtype=np.int64, count=len(known))
    clamp = np.zeros((len(known), c))
    clamp[np.arange(len(known)), known_labels] = 1.0

    # Start from the soft majority vote.
    post = np.bincount(items * c + labels, minlength=n_items * c).reshape(n_items, c) + 1e-2
    post = post / post.sum(axis=1, keepdims=True)  # (I, C)
    post[known_items] = clamp
    cell = annotators * c + labels  # (R,) index into an (A, L) grid
    # A weak Dirichlet prior that favours the diagonal keeps rare annotators sane.
    smooth = np.full((c, c), 0.05) + np.eye(c) * 0.5

    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        # M-step: class priors and confusion matrices from the current posteriors.
        priors = (post.sum(axis=0) + 1.0) / (n_items + c)  # (C,)
        per_answer = post[items]  # (R, C)
        counts = np.stack(
            [np.bincount(cell, weights=per_answer[:, k], minlength=n_annot * c) for k in range(c)]
        ).reshape(c, n_annot, c)  # (C_true, A, L)
        confusion = counts.transpose(1, 0, 2) + smooth  # (A, C, L)
        confusion /= confusion.sum(axis=2, keepdims=True)

        # E-step: log P(true = k | answers) = log prior_k + sum of log confusion terms.
        log_conf = np.log(confusion)[annotators, :, labels]  # (R, C)
        log_post = np.stack(
            [np.bincount(items, weights=log_conf[:, k], minlength=n_items) for k in range(c)],
            axis=1,
        ) + np.log(priors)  # (I, C)
        log_post -= log_post.max(axis=1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(axis=1, keepdims=True)
        new[known_items] = clamp
        delta = float(np.abs(new - post).max())
        post = new
        if delta < tol:
            break

    n_answers = np.bincount(annotators, minlength=n_annot)
    agree = np.bincount(annotators, weights=post[items, labels], minlength=n_annot)
    accuracy = np.divide(agree, n_answers, out=np.zeros(n_annot), where=n_answers > 0)
    return DawidSkene(
        posteriors=post,
        labels=post.argmax(axis=1),
        priors=priors,
        confusion=confusion,
        accuracy=accuracy,
        n_answers=n_answers,
        iterations=iterations,
    )
