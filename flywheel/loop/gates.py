"""The promotion gates: a candidate replaces the current model only if it passes all.

1. accuracy  — on the candidate's evaluation set, against the *best* promoted model on
               the same samples (not just the current one, so a chain of small losses
               cannot ratchet down): not below it by more than ``tolerance``, and not
               significantly worse by an exact McNemar test at level ``alpha``;
2. gallery   — no regression-gallery case that the current model gets right is wrong;
3. blocklist — no new wrong output of a blocklisted class: on the evaluation set and the
               gallery, the candidate never predicts a blocklisted class for a sample
               labelled otherwise where the current model did not.

Every model is evaluated now, on the same samples, so the comparison does not depend
on what labels each saw when it was trained (docs/decisions/loop-gates.md,
docs/decisions/loop-gates-best-model.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.lake import Lake
from flywheel.loop.evaluation import Cases, Predictor, accuracy, read_eval_set, read_gallery
from flywheel.loop.paired import PairedTest, mcnemar_worse
from flywheel.loop.registry import record_decision
from flywheel.train import Models

_SHOWN = 5  # cases named in a reason


@dataclass(frozen=True)
class GateConfig:
    """``tolerance``: accuracy a candidate may lose against the best promoted model
    (0.01 = one point); ``blocklist``: classes never prefilled, auto-accepted, or output
    wrongly by a new model; ``alpha``: a candidate whose loss against the best promoted
    model has a one-sided McNemar p-value below it is rejected, even within tolerance."""

    tolerance: float = 0.01
    blocklist: frozenset[str] = frozenset()
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance <= 1.0:
            raise ConfigError(f"--tolerance must be in [0, 1], got {self.tolerance}")
        if not 0.0 <= self.alpha < 1.0:
            raise ConfigError(f"--alpha must be in [0, 1), got {self.alpha} (0 turns the test off)")


def load_blocklist(path: str | Path) -> frozenset[str]:
    """Classes from a text file, one per line; ``#`` starts a comment.

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    >>> _ = f.write("# never prefill these\\neight\\n  nine  # sensitive\\n"); f.close()
    >>> sorted(load_blocklist(f.name)); os.unlink(f.name)
    ['eight', 'nine']
    """
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read blocklist {path}: {err.strerror}") from None
    names = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(n for n in names if n)


@dataclass(frozen=True)
class Check:
    name: str  # accuracy | gallery | blocklist
    passed: bool
    detail: str  # one clause for people


@dataclass(frozen=True)
class GateResult:
    """The verdict on ``version`` against the current model ``against``."""

    version: str
    against: str | None
    checks: tuple[Check, ...]
    facts: dict[str, Any] = field(default_factory=dict)  # stored in metrics["gate"]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def status(self) -> str:
        return "promoted" if self.passed else "rejected"

    @property
    def reason(self) -> str:
        failed = [c.detail for c in self.checks if not c.passed]
        if failed:
            return "; ".join(failed)
        against = f"against {self.against}" if self.against else "(no current model)"
        return f"passed gates {against}: " + "; ".join(c.detail for c in self.checks)


def evaluate_gates(
    lake: Lake,
    candidate: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    config: GateConfig,
    promoted: Sequence[Mapping[str, Any]] = (),
) -> GateResult:
    """Run every gate on ``candidate`` against ``current`` (None: no current model);
    the accuracy gate compares with the best of ``current`` and ``promoted`` (every
    promoted version) on the candidate's evaluation set. Reads and predicts only;
    ``gate_candidate`` records the decision."""
    settings = lake.settings
    new = Predictor(candidate, settings)
    old = Predictor(current, settings) if current is not None else None
    eval_set = read_eval_set(lake, candidate)
    gallery, gallery_snap = read_gallery(lake, str(candidate["modality"]))
    new_eval, new_gal = new.predict(eval_set.media), new.predict(gallery.media)
    old_eval = old.predict(eval_set.media) if old else None
    old_gal = old.predict(gallery.media) if old else None
    rivals = _rival_outputs(settings, eval_set, candidate, old, old_eval, promoted)
    verdict = check_accuracy(eval_set.labels, new_eval, rivals, config.tolerance, config.alpha)
    checks = (
        verdict.check,
        _gallery_check(gallery, new_gal, old_gal, old),
        _blocklist_check(
            eval_set.labels + gallery.labels,
            eval_set.sample_ids + gallery.sample_ids,
            new_eval + new_gal,
            None if old_eval is None or old_gal is None else old_eval + old_gal,
            config.blocklist,
        ),
    )
    facts: dict[str, Any] = {
        "against": old.version if old else None,
        "n_eval": len(eval_set),
        "accuracy": accuracy(new_eval, eval_set.labels),
        "against_accuracy": None if old_eval is None else accuracy(old_eval, eval_set.labels),
        "tolerance": config.tolerance,
        "best": verdict.best,
        "best_accuracy": verdict.best_accuracy,
        "alpha": config.alpha,
        "paired_test": None if verdict.test is None else verdict.test.facts(),
        "gallery_n": len(gallery),
        "gallery_snapshot": gallery_snap,
        "blocklist": sorted(config.blocklist),
        "checks": {c.name: c.passed for c in checks},
    }
    return GateResult(str(candidate["version"]), facts["against"], checks, facts)


def _rival_outputs(
    settings: Settings,
    cases: Cases,
    candidate: Mapping[str, Any],
    old: Predictor | None,
    old_eval: list[str] | None,
    promoted: Sequence[Mapping[str, Any]],
) -> dict[str, list[str]]:
    """version -> outputs on ``cases`` of the current model and every other promoted
    one of the candidate's modality (each checkpoint loaded once; the sets are small,
    see loop-gates.md)."""
    rivals = {old.version: old_eval} if old is not None and old_eval is not None else {}
    for row in promoted:
        version = str(row["version"])
        same_kind = row["modality"] == candidate["modality"]
        if same_kind and version not in rivals and version != candidate["version"]:
            rivals[version] = Predictor(row, settings).predict(cases.media)
    return rivals


def evaluate_candidate(
    lake: Lake,
    candidate: Mapping[str, Any],
    config: GateConfig,
    history: Models | None = None,
) -> GateResult:
    """``evaluate_gates`` against the lake's current model (none when that is
    ``candidate`` itself) and every promoted one; ``history`` as read already, if it was."""
    history = Models.read(lake) if history is None else history
    current = history.promoted()
    if current is not None and current["version"] == candidate["version"]:
        current = None
    return evaluate_gates(lake, candidate, current, config, history.promoted_versions())


def gate_candidate(
    lake: Lake,
    candidate: Mapping[str, Any],
    config: GateConfig,
    history: Models | None = None,
) -> GateResult:
    """Evaluate ``candidate`` against the current model and record the decision as a
    new ``models`` row (nothing is written when a decision exists already)."""
    result = evaluate_candidate(lake, candidate, config, history)
    record_decision(lake, candidate, result.status, result.reason, result.facts)
    return result


@dataclass(frozen=True)
class AccuracyVerdict:
    """The accuracy gate: its check, the best rival on the set and the paired test."""

    check: Check
    best: str | None = None
    best_accuracy: float | None = None
    test: PairedTest | None = None


def check_accuracy(
    labels: Sequence[str],
    new: Sequence[str],
    rivals: Mapping[str, Sequence[str]],
    tolerance: float,
    alpha: float,
) -> AccuracyVerdict:
    """Compare the candidate's outputs ``new`` with the best of ``rivals`` (version ->
    outputs on the same samples, every promoted model): pass when the candidate is not
    below the best by more than ``tolerance`` and not significantly worse than it
    (one-sided exact McNemar p-value >= ``alpha``).

    >>> labels = list("aaaabbbb")
    >>> v = check_accuracy(labels, list("aaaabbba"), {"m1": labels}, 0.2, 0.05)
    >>> v.check.passed, v.best, v.test.p_value
    (True, 'm1', 0.5)
    """
    a_new = accuracy(new, labels)
    where = f"on the same {len(labels)} held-out samples"
    if not rivals:
        alone = f"accuracy {a_new:.3f} on {len(labels)} held-out samples"
        return AccuracyVerdict(Check("accuracy", True, alone))
    scores = {v: accuracy(out, labels) for v, out in rivals.items()}
    best = max(scores, key=lambda v: scores[v])  # the first of equals: the current model
    a_best = scores[best]
    test = mcnemar_worse(_hits(rivals[best], labels), _hits(new, labels))
    vs = f"{best}'s {a_best:.3f} (the best promoted model) {where}; {test.describe()}"
    if a_new < a_best - tolerance - 1e-12:
        detail = f"accuracy {a_new:.3f} is more than {tolerance:g} below {vs}"
    elif test.p_value < alpha:
        detail = f"accuracy {a_new:.3f} is significantly below {vs} < alpha {alpha:g}"
    else:
        passed = f"accuracy {a_new:.3f} vs {vs} (tolerance {tolerance:g}, alpha {alpha:g})"
        return AccuracyVerdict(Check("accuracy", True, passed), best, a_best, test)
    return AccuracyVerdict(Check("accuracy", False, detail), best, a_best, test)


def _hits(predicted: Sequence[str], labels: Sequence[str]) -> list[bool]:
    return [p == e for p, e in zip(predicted, labels, strict=True)]


def _gallery_check(
    gallery: Cases, new: Sequence[str], old: Sequence[str] | None, old_model: Predictor | None
) -> Check:
    if len(gallery) == 0:
        return Check("gallery", True, "no gallery cases yet")
    if old is None or old_model is None:
        right = sum(n == e for n, e in zip(new, gallery.labels, strict=True))
        return Check("gallery", True, f"{right} of {len(gallery)} gallery cases right")
    kept = [i for i, (o, e) in enumerate(zip(old, gallery.labels, strict=True)) if o == e]
    broken = [i for i in kept if new[i] != gallery.labels[i]]
    if not broken:
        return Check(
            "gallery",
            True,
            f"keeps all {len(kept)} gallery cases {old_model.version} gets right "
            f"(of {len(gallery)})",
        )
    shown = ", ".join(
        f"{gallery.sample_ids[i][:12]} (expected {gallery.labels[i]}, now {new[i]})"
        for i in broken[:_SHOWN]
    )
    more = f" and {len(broken) - _SHOWN} more" if len(broken) > _SHOWN else ""
    return Check(
        "gallery",
        False,
        f"regresses {len(broken)} gallery case(s) {old_model.version} gets right: {shown}{more}",
    )


def _blocklist_check(
    labels: Sequence[str],
    sample_ids: Sequence[str],
    new: Sequence[str],
    old: Sequence[str] | None,
    blocklist: frozenset[str],
) -> Check:
    if not blocklist:
        return Check("blocklist", True, "no blocklist")
    bad = [
        i
        for i, (ref, pred) in enumerate(zip(labels, new, strict=True))
        if pred in blocklist and pred != ref and (old is None or old[i] != pred)
    ]
    if not bad:
        return Check("blocklist", True, "no new wrong output of a blocklisted class")
    shown = ", ".join(
        f"{sample_ids[i][:12]} (labelled {labels[i]}, predicted {new[i]})" for i in bad[:_SHOWN]
    )
    more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    return Check(
        "blocklist",
        False,
        f"outputs blocklisted class(es) {', '.join(sorted({new[i] for i in bad}))} "
        f"wrongly for {len(bad)} sample(s): {shown}{more}",
    )
