"""The promotion gates: a candidate replaces the current model only if it passes all.

1. accuracy  — on the candidate's evaluation set, not worse than the current model's
               accuracy on the same samples by more than ``tolerance``;
2. gallery   — no regression-gallery case that the current model gets right is wrong;
3. blocklist — no new wrong output of a blocklisted class: on the evaluation set and the
               gallery, the candidate never predicts a blocklisted class for a sample
               labelled otherwise where the current model did not.

Both models are evaluated now, on the same samples, so the comparison does not depend
on what labels each saw when it was trained (docs/decisions/loop-gates.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.errors import ConfigError
from flywheel.lake import Lake
from flywheel.loop.evaluation import Cases, Predictor, accuracy, read_eval_set, read_gallery
from flywheel.loop.registry import ModelHistory, record_decision

_SHOWN = 5  # cases named in a reason


@dataclass(frozen=True)
class GateConfig:
    """``tolerance``: accuracy a candidate may lose (0.01 = one point); ``blocklist``:
    classes never prefilled, auto-accepted, or output wrongly by a new model."""

    tolerance: float = 0.01
    blocklist: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance <= 1.0:
            raise ConfigError(f"--tolerance must be in [0, 1], got {self.tolerance}")


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
) -> GateResult:
    """Run every gate on ``candidate`` against ``current`` (None: no current model).
    Reads and predicts only; ``gate_candidate`` records the decision."""
    settings = lake.settings
    new = Predictor(candidate, settings)
    old = Predictor(current, settings) if current is not None else None
    eval_set = read_eval_set(lake, candidate)
    gallery, gallery_snap = read_gallery(lake, str(candidate["modality"]))
    new_eval, new_gal = new.predict(eval_set.media), new.predict(gallery.media)
    old_eval = old.predict(eval_set.media) if old else None
    old_gal = old.predict(gallery.media) if old else None
    checks = (
        _accuracy_check(eval_set, new_eval, old_eval, old, config.tolerance),
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
        "gallery_n": len(gallery),
        "gallery_snapshot": gallery_snap,
        "blocklist": sorted(config.blocklist),
        "checks": {c.name: c.passed for c in checks},
    }
    return GateResult(str(candidate["version"]), facts["against"], checks, facts)


def gate_candidate(lake: Lake, candidate: Mapping[str, Any], config: GateConfig) -> GateResult:
    """Evaluate ``candidate`` against the current model and record the decision as a
    new ``models`` row (nothing is written when a decision exists already)."""
    current = ModelHistory.read(lake).promoted()
    if current is not None and current["version"] == candidate["version"]:
        current = None
    result = evaluate_gates(lake, candidate, current, config)
    record_decision(lake, candidate, result.status, result.reason, result.facts)
    return result


def _accuracy_check(
    cases: Cases,
    new: Sequence[str],
    old: Sequence[str] | None,
    old_model: Predictor | None,
    tolerance: float,
) -> Check:
    a_new = accuracy(new, cases.labels)
    if old is None or old_model is None:
        return Check("accuracy", True, f"accuracy {a_new:.3f} on {len(cases)} held-out samples")
    a_old = accuracy(old, cases.labels)
    where = f"on the same {len(cases)} held-out samples"
    if a_new >= a_old - tolerance - 1e-12:
        return Check(
            "accuracy",
            True,
            f"accuracy {a_new:.3f} vs {old_model.version}'s {a_old:.3f} "
            f"(tolerance {tolerance:g}) {where}",
        )
    return Check(
        "accuracy",
        False,
        f"accuracy {a_new:.3f} is more than {tolerance:g} below {old_model.version}'s "
        f"{a_old:.3f} {where}",
    )


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
