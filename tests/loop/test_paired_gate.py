"""The accuracy gate compares with the best promoted model by a paired test, so a
chain of candidates, each within tolerance of the one before, cannot drift down."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ConfigError
from flywheel.loop.gates import GateConfig, check_accuracy
from flywheel.loop.paired import mcnemar_worse

N = 1000  # held-out samples
TOLERANCE, ALPHA = 0.01, 0.05


def _chain(start_right: int, steps: int, lose: int, gain: int, seed: int) -> list[np.ndarray]:
    """(N,) correctness of each model of a chain: each next one gets ``lose`` of its
    parent's right answers wrong and ``gain`` of its wrong ones right (net -8 at 28/20:
    0.8 points, within a 1-point tolerance of its parent)."""
    rng = np.random.default_rng(seed)
    right = np.zeros(N, dtype=bool)
    right[rng.choice(N, start_right, replace=False)] = True
    chain = [right]
    for _ in range(steps):
        nxt = chain[-1].copy()
        nxt[rng.choice(np.flatnonzero(nxt), lose, replace=False)] = False
        nxt[rng.choice(np.flatnonzero(~chain[-1]), gain, replace=False)] = True
        chain.append(nxt)
    return chain


def _outputs(right: np.ndarray, labels: list[str]) -> list[str]:
    return [label if ok else "wrong" for ok, label in zip(right, labels, strict=True)]


def _run_chain(chain: list[np.ndarray], against_best: bool) -> list[int]:
    """Gate each candidate in turn; returns the indices of the models promoted."""
    labels = ["x"] * N
    promoted = [0]
    for i in range(1, len(chain)):
        pool = promoted if against_best else promoted[-1:]  # the old gate: current only
        rivals = {f"m{j}": _outputs(chain[j], labels) for j in pool}
        verdict = check_accuracy(labels, _outputs(chain[i], labels), rivals, TOLERANCE, ALPHA)
        if verdict.check.passed:
            promoted.append(i)
    return promoted


@pytest.mark.parametrize("seed", range(5))
def test_a_chain_within_tolerance_of_each_parent_cannot_drift_below_the_best(seed: int) -> None:
    chain = _chain(start_right=965, steps=6, lose=28, gain=20, seed=seed)
    accuracy = [float(c.mean()) for c in chain]
    # The old rule, against the current model only, promotes the whole chain: 0.965 -> 0.917.
    assert _run_chain(chain, against_best=False) == list(range(len(chain)))
    promoted = _run_chain(chain, against_best=True)
    best = max(accuracy[i] for i in promoted)
    assert all(accuracy[i] >= best - TOLERANCE - 1e-12 for i in promoted)
    assert len(promoted) < len(chain)
    assert min(accuracy[i] for i in promoted) > accuracy[-1] + 0.03


def test_a_candidate_significantly_worse_than_the_best_fails_within_tolerance() -> None:
    labels = ["x"] * N
    best = np.zeros(N, dtype=bool)
    best[:965] = True
    worse = best.copy()
    worse[:8] = False  # 8 newly wrong, none newly right: 0.957, within 0.01
    rivals = {"m0001": _outputs(best, labels)}
    verdict = check_accuracy(labels, _outputs(worse, labels), rivals, TOLERANCE, ALPHA)
    assert not verdict.check.passed and verdict.best == "m0001"
    assert verdict.test is not None and verdict.test.p_value == pytest.approx(0.5**8)
    assert "significantly below m0001's 0.965" in verdict.check.detail
    assert (
        "p = 0.0039" in verdict.check.detail
        and "8 newly wrong, 0 newly right" in verdict.check.detail
    )
    # alpha 0 turns the test off: tolerance alone decides
    assert check_accuracy(labels, _outputs(worse, labels), rivals, TOLERANCE, 0.0).check.passed


def test_the_best_of_the_promoted_models_is_the_reference() -> None:
    labels = ["x"] * 10
    rivals = {"m0003": ["x"] * 7 + ["y"] * 3, "m0001": ["x"] * 10, "m0002": ["x"] * 8 + ["y"] * 2}
    verdict = check_accuracy(labels, ["x"] * 9 + ["y"], rivals, 0.2, ALPHA)
    assert (verdict.best, verdict.best_accuracy) == ("m0001", 1.0)
    assert (
        verdict.check.passed and "m0001's 1.000 (the best promoted model)" in verdict.check.detail
    )


def test_mcnemar_counts_only_discordant_pairs() -> None:
    t = mcnemar_worse([True, True, False, False, True], [True, False, True, False, False])
    assert (t.b, t.c) == (2, 1) and t.p_value == pytest.approx(0.5)  # P(X >= 2 | n=3)


def test_alpha_outside_its_range_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        GateConfig(alpha=1.0)
