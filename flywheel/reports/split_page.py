"""The split-cluster page: per class, whether its embeddings form separate groups,
how far apart, and the most typical examples of each group. The markup is
``templates/split_clusters.html.j2``; this module gathers what it shows."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Mapping
from typing import Any

from flywheel.reports.clusters import ClassSplit, SplitConfig
from flywheel.reports.page import render

_VIEW_NAMES = {"model": "the model's embedding", "imagenet": "ImageNet features (no labels)",
               "log-mel": "log-mel statistics (no labels)"}  # fmt: skip


def _view_name(view: str) -> str:
    return _VIEW_NAMES.get(view, view)


def _group(
    split: ClassSplit, index: int, thumbs: Mapping[str, str], predicted: Mapping[str, str]
) -> dict[str, Any]:
    group = split.groups[index]
    preds = Counter(predicted.get(s, "?") for s in group.members).most_common(3)
    return {
        "number": index + 1,
        "size": group.size,
        "predicted": ", ".join(f"{p} {n}" for p, n in preds),
        "examples": [(s, thumbs.get(s)) for s in group.examples],  # (sample id, preview URL)
        "ref": shlex.quote(f"{split.class_name}:{index + 1}"),
    }


def _evidence(split: ClassSplit) -> list[dict[str, Any]]:
    """One row per view: the class's cut against the other classes' (the null)."""
    return [
        {
            "view": _view_name(e.view),
            "conductance": f"{e.conductance:.3f}",
            "null_median": f"{e.null_median:.3f}",
            "z": f"{e.z:+.1f}",
            "share": f"{e.share:.0%}",
            "split": e.split,
        }
        for e in split.evidence
    ]


def _why(split: ClassSplit, config: SplitConfig) -> str | None:
    """Why an uncalibrated class got its verdict (a calibrated one shows its evidence)."""
    if split.calibrated:
        return None
    if split.separation is None:
        return f"fewer than {config.min_class_size} samples"
    share = split.smaller_share or 0.0
    why = f"separation {split.separation:.2f} (split at ≥ {config.threshold:g})"
    if split.separation >= config.threshold:
        why += f", smaller group {share:.0%} (needs ≥ {config.min_group_share:.0%})"
        if share >= config.min_group_share and split.spread_ratio is not None:
            why += (f", its spread {split.spread_ratio:.2f}× the larger's (needs ≤ "
                    f"{config.max_spread_ratio:g}×; wider is scattered label errors)")  # fmt: skip
    return why


def _class(
    split: ClassSplit, config: SplitConfig, thumbs: Mapping[str, str], predicted: Mapping[str, str]
) -> dict[str, Any]:
    if not split.calibrated and split.separation is None:
        verdict = "not tested"
    else:
        verdict = f"split into {len(split.groups)}" if split.split else "one group"
    return {
        "name": split.class_name,
        "split": split.split,
        "calibrated": split.calibrated,
        "size": split.size,
        "verdict": verdict,
        "why": _why(split, config),
        "evidence": _evidence(split),
        "z_threshold": f"{config.null.z_threshold:g}",
        "evidence_from": _view_name(split.split_by) if split.split_by else None,
        "groups": [_group(split, i, thumbs, predicted) for i in range(len(split.groups))],
    }


def split_page(
    version: str,
    splits: list[ClassSplit],
    config: SplitConfig,
    thumbs: Mapping[str, str],
    predicted: Mapping[str, str],
) -> str:
    """The whole page; split classes first. ``thumbs`` maps sample id -> preview URL,
    ``predicted`` sample id -> the model's predicted class."""
    ordered = sorted(splits, key=lambda s: (not s.split, s.class_name))
    return render(
        "split_clusters.html.j2",
        version=version,
        n_split=sum(s.split for s in splits),
        split_names=[s.class_name for s in splits if s.split],
        classes=[_class(s, config, thumbs, predicted) for s in ordered],
    )
