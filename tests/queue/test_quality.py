"""Label quality on simulated annotators with known error rates."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.queue.quality import (
    accuracy_weight,
    dawid_skene,
    estimate_accuracy,
    majority_vote,
    weighted_vote,
)


def simulate(
    accuracies: list[float], n_items: int = 400, n_classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every annotator answers every item: right with its accuracy, else a uniformly
    random wrong class. Returns (truth, items, annotators, labels)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    items, annots, labels = [], [], []
    for a, acc in enumerate(accuracies):
        right = rng.random(n_items) < acc
        wrong = (truth + rng.integers(1, n_classes, n_items)) % n_classes
        items.append(np.arange(n_items))
        annots.append(np.full(n_items, a))
        labels.append(np.where(right, truth, wrong))
    return truth, np.concatenate(items), np.concatenate(annots), np.concatenate(labels)


def test_dawid_skene_recovers_the_bad_annotator() -> None:
    accuracies = [0.9, 0.85, 0.8, 0.3, 0.75]
    truth, items, annots, labels = simulate(accuracies)
    ds = dawid_skene(items, annots, labels, n_classes=3)
    assert np.abs(ds.accuracy - np.array(accuracies)).max() < 0.06
    assert int(np.argmin(ds.accuracy)) == 3
    mv, _share = majority_vote(items, labels, len(truth), 3)
    assert (ds.labels == truth).mean() >= (mv == truth).mean()
    assert (ds.labels == truth).mean() > 0.95


def test_dawid_skene_beats_majority_when_bad_annotators_are_many() -> None:
    # Two good annotators outvoted by three poor ones: only the estimates can tell.
    accuracies = [0.95, 0.95, 0.4, 0.4, 0.4]
    truth, items, annots, labels = simulate(accuracies, n_items=600, seed=1)
    ds = dawid_skene(items, annots, labels, n_classes=3)
    mv, _ = majority_vote(items, labels, len(truth), 3)
    assert (ds.labels == truth).mean() > (mv == truth).mean() + 0.05


def test_gold_items_anchor_dawid_skene() -> None:
    truth, items, annots, labels = simulate([0.8, 0.7, 0.6], n_items=200, seed=2)
    known = {i: int(truth[i]) for i in range(20)}
    ds = dawid_skene(items, annots, labels, n_classes=3, known=known)
    assert all(ds.labels[i] == truth[i] for i in known)
    assert np.allclose(ds.posteriors[:20].max(axis=1), 1.0)


def test_dawid_skene_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="class indices"):
        dawid_skene(np.array([0]), np.array([0]), np.array([3]), n_classes=3)
    with pytest.raises(ValueError, match="equally long"):
        dawid_skene(np.array([0, 1]), np.array([0]), np.array([0]), n_classes=2)


def test_weighted_vote_records_how_it_decided() -> None:
    d = weighted_vote(["cat"], [1.0])
    assert (d.label, d.method, d.agreement, d.n_answers) == ("cat", "single", 1.0, 1)
    d = weighted_vote(["cat", "dog", "dog"], [1.0, 1.0, 1.0])
    assert (d.label, d.method, d.votes) == ("dog", "majority", {"cat": 1, "dog": 2})
    # One reliable annotator outweighs two unreliable ones.
    d = weighted_vote(["cat", "dog", "dog"], [3.0, 1.0, 1.0])
    assert (d.label, d.method) == ("cat", "weighted")
    assert d.agreement == pytest.approx(1 / 3)
    assert d.confidence == pytest.approx(0.6)


def test_accuracy_estimates_and_weights() -> None:
    assert estimate_accuracy(0, 0) == 0.75
    assert estimate_accuracy(20, 20) > 0.95 > estimate_accuracy(10, 20)
    assert accuracy_weight(0.2, 2) == 0.0  # worse than chance: ignored, not inverted
    assert accuracy_weight(0.9, 2) > accuracy_weight(0.75, 2) > 0
