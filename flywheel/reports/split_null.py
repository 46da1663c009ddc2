"""Split detection calibrated against a null: how split the honest classes look.

A fixed cut-off on any split statistic is wrong somewhere: how cleanly a class falls in
two depends on the data, the features and the class size. Most classes of a taxonomy are
honest, so the other classes show what "one kind of thing" looks like in this data, in
this view. For each view (the model's embedding, and a view the labels did not shape:
see ``flywheel.reports.views``) and each class:

1. score the class: the conductance of the best balanced cut of its nearest-neighbour
   graph (``flywheel.reports.graph_split``), the median over ``repeats`` subsamples of
   ``graph_samples`` (the same size for every class, so size does not move the score);
2. the null is the other classes' scores in the same view (leave-one-out, so a mixed
   class never calibrates itself): their median and robust spread (1.4826 x MAD of the
   log score, at least ``min_null_scale``);
3. ``z`` = how many null spreads the class's log score lies below the null median. A
   class is split when ``z >= z_threshold`` in any view; its groups come from the view
   with the largest ``z``, and each group is tested again against the same null, up to
   ``max_groups`` groups.

With fewer than ``min_null_classes`` testable classes there is no null to speak of, and
``flywheel.reports.clusters`` keeps its fixed separation threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from flywheel.errors import ConfigError
from flywheel.reports.graph_split import best_cut


@dataclass(frozen=True)
class NullConfig:
    z_threshold: float = 5.5
    graph_k: int = 10  # neighbours per sample
    graph_dims: int = 30  # principal components kept before the graph
    graph_samples: int = 200  # per class and repeat
    repeats: int = 3
    min_null_classes: int = 4  # testable classes needed to calibrate
    min_null_scale: float = 0.1  # floor of the null's spread, log units
    min_group_share: float = 0.2  # a cut leaves at least this share on each side

    def __post_init__(self) -> None:
        if self.z_threshold <= 0:
            raise ConfigError(f"--split-z must be positive, got {self.z_threshold}")
        if not 0 < self.min_group_share < 0.5:
            raise ConfigError(f"min group share must be in (0, 0.5), got {self.min_group_share}")
        if self.graph_k < 2 or self.graph_samples < 4 * self.graph_k or self.repeats < 1:
            raise ConfigError("graph_k >= 2, graph_samples >= 4 x graph_k, repeats >= 1")


@dataclass(frozen=True)
class ViewEvidence:
    """One view's case for or against splitting one class."""

    view: str  # "model", "imagenet" or "log-mel"
    conductance: float  # best balanced cut of the class's neighbour graph; lower: more split
    share: float  # the smaller side's share of that cut
    null_median: float  # the other classes' median conductance in this view
    null_scale: float  # their robust spread, log units
    z: float  # null spreads below the null median (log conductance)
    split: bool

    def to_json(self) -> dict[str, object]:
        return {"view": self.view, "conductance": round(self.conductance, 4),
                "share": round(self.share, 3), "null_median": round(self.null_median, 4),
                "null_scale": round(self.null_scale, 3), "z": round(self.z, 2),
                "split": self.split}  # fmt: skip


def score_class(X: np.ndarray, config: NullConfig, rng: np.random.Generator) -> tuple[float, float]:
    """(median conductance, median smaller share) of ``X`` (n, D) over subsamples."""
    results = []
    for _ in range(config.repeats if len(X) > config.graph_samples else 1):
        pick = rng.choice(len(X), min(config.graph_samples, len(X)), replace=False)
        cut = best_cut(X[pick], config.graph_k, config.graph_dims, config.min_group_share)
        results.append((cut.conductance, cut.share))
    conductance, share = np.median(np.asarray(results), axis=0)
    return float(conductance), float(share)


def calibrate(
    scores: Mapping[str, Mapping[str, tuple[float, float]]], config: NullConfig
) -> dict[str, list[ViewEvidence]]:
    """``scores[view][class] = (conductance, share)`` -> evidence per class, one entry
    per view, each against the leave-one-out null of its view."""
    out: dict[str, list[ViewEvidence]] = {}
    for view, per_class in scores.items():
        logs = {c: np.log(max(s[0], 1e-6)) for c, s in per_class.items()}
        for name, (conductance, share) in per_class.items():
            others = np.array([v for c, v in logs.items() if c != name])
            median = float(np.median(others))
            scale = max(1.4826 * float(np.median(np.abs(others - median))), config.min_null_scale)
            z = (median - logs[name]) / scale
            evidence = ViewEvidence(view, conductance, share, float(np.exp(median)), scale,
                                    float(z), bool(z >= config.z_threshold))  # fmt: skip
            out.setdefault(name, []).append(evidence)
    return out


def split_in_view(
    X: np.ndarray,
    evidence: ViewEvidence,
    config: NullConfig,
    max_groups: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Index sets of ``X`` (n, D) for the groups of a class its ``evidence`` split:
    cut in two, then each part cut again while it is split against the same null."""
    threshold = np.exp(np.log(evidence.null_median) - config.z_threshold * evidence.null_scale)
    parts = _bisect(X, np.arange(len(X)), config, rng)
    while len(parts) < max_groups:
        tests = [score_class(X[p], config, rng)[0] if len(p) >= 2 * config.graph_k else 1.0
                 for p in parts]  # fmt: skip
        best = int(np.argmin(tests))
        if tests[best] > threshold:
            break
        parts = parts[:best] + _bisect(X, parts[best], config, rng) + parts[best + 1 :]
    return parts


def _bisect(
    X: np.ndarray, part: np.ndarray, config: NullConfig, rng: np.random.Generator
) -> list[np.ndarray]:
    """``part`` cut in two: the graph cut of a subsample of at most ``3 x graph_samples``,
    the rest joining the side whose centre is nearer."""
    pick = rng.choice(len(part), min(len(part), 3 * config.graph_samples), replace=False)
    cut = best_cut(X[part[pick]], config.graph_k, config.graph_dims, config.min_group_share)
    centres = np.stack(
        [X[part[pick[cut.side]]].mean(axis=0), X[part[pick[~cut.side]]].mean(axis=0)]
    )  # fmt: skip  (2, D)
    d2 = ((X[part][:, None, :] - centres[None]) ** 2).sum(axis=2)  # (n, 2)
    side = d2.argmin(axis=1) == 0
    side[pick] = cut.side  # the graph's own answer where it has one
    return [part[side], part[~side]]
