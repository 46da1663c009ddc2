"""The split-cluster page: per class, whether its embeddings form separate groups,
how far apart, and the most typical examples of each group."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Mapping

from flywheel.reports.clusters import ClassSplit, SplitConfig
from flywheel.reports.page import esc, render_page

SPLIT_CSS = """
.cls { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.cls.split { border-color: #cf222e; background: #fff8f7; }
.cls h2 { font-size: 16px; margin: 0 0 4px; }
.verdict { font-size: 12px; padding: 1px 8px; border-radius: 9px; margin-left: 8px;
           background: #dafbe1; color: #116329; vertical-align: 2px; }
.split .verdict { background: #ffebe9; color: #a40e26; }
.groups { display: flex; flex-wrap: wrap; gap: 18px; margin-top: 8px; }
.group h3 { font-size: 13px; margin: 0 0 4px; }
.examples { display: flex; gap: 4px; flex-wrap: wrap; max-width: 520px; }
.examples img { image-rendering: pixelated; border: 1px solid var(--line); max-height: 72px; }
.evidence { border-collapse: collapse; font-size: 12px; margin: 6px 0 2px; }
.evidence td, .evidence th { border: 1px solid var(--line); padding: 2px 8px; text-align: left; }
.evidence tr.hit td { background: #ffebe9; }
"""


def _group_html(
    split: ClassSplit, index: int, thumbs: Mapping[str, str], predicted: Mapping[str, str]
) -> str:
    group = split.groups[index]
    preds = Counter(predicted.get(s, "?") for s in group.members).most_common(3)
    pred_text = ", ".join(f"{esc(p)} {n}" for p, n in preds)
    images = "".join(
        f'<img src="{esc(thumbs[s])}" alt="{esc(s[:12])}" title="{esc(s)}">'
        if s in thumbs
        else f'<code title="{esc(s)}">{esc(s[:8])}</code>'
        for s in group.examples
    )
    ref = shlex.quote(f"{split.class_name}:{index + 1}")
    command = (
        f"<p class=muted>verify: <code>flywheel report verify-cluster {esc(ref)} --queue Q</code></p>"
        if split.split
        else ""
    )
    return (
        f'<div class="group"><h3>group {index + 1}: {group.size} samples '
        f'<span class="muted">(predicted: {pred_text})</span></h3>'
        f'<div class="examples">{images}</div>{command}</div>'
    )


_VIEW_NAMES = {"model": "the model's embedding", "imagenet": "ImageNet features (no labels)",
               "log-mel": "log-mel statistics (no labels)"}  # fmt: skip


def _evidence_html(split: ClassSplit, config: SplitConfig) -> str:
    """One row per view: the class's cut against the other classes' (the null)."""
    rows = "".join(
        f"<tr{' class=hit' if e.split else ''}><td>{esc(_VIEW_NAMES.get(e.view, e.view))}</td>"
        f"<td>{e.conductance:.3f}</td><td>{e.null_median:.3f}</td><td>{e.z:+.1f}</td>"
        f"<td>{e.share:.0%}</td><td>{'split' if e.split else 'one group'}</td></tr>"
        for e in split.evidence
    )
    by = split.split_by or ""
    source = f"; groups below are from {esc(_VIEW_NAMES.get(by, by))}" if by else ""
    return (
        '<table class="evidence"><tr><th>view</th><th>cut conductance</th>'
        "<th>honest classes (median)</th><th>z</th><th>smaller side</th><th>verdict</th></tr>"
        f"{rows}</table><p class=muted>split when z ≥ {config.null.z_threshold:g} in any "
        f"view{source}</p>"
    )


def _class_html(
    split: ClassSplit, config: SplitConfig, thumbs: Mapping[str, str], predicted: Mapping[str, str]
) -> str:
    if split.calibrated:
        verdict = f"split into {len(split.groups)}" if split.split else "one group"
        why = _evidence_html(split, config)
    elif split.separation is None:
        verdict, why = "not tested", f"fewer than {config.min_class_size} samples"
    else:
        verdict = f"split into {len(split.groups)}" if split.split else "one group"
        share = split.smaller_share or 0.0
        why = f"separation {split.separation:.2f} (split at ≥ {config.threshold:g})"
        if split.separation >= config.threshold:
            why += f", smaller group {share:.0%} (needs ≥ {config.min_group_share:.0%})"
            if share >= config.min_group_share and split.spread_ratio is not None:
                why += (f", its spread {split.spread_ratio:.2f}× the larger's (needs ≤ "
                        f"{config.max_spread_ratio:g}×; wider is scattered label errors)")  # fmt: skip
    groups = "".join(_group_html(split, i, thumbs, predicted) for i in range(len(split.groups)))
    return (
        f'<section class="cls{" split" if split.split else ""}" data-class="{esc(split.class_name)}">'
        f'<h2>{esc(split.class_name)}<span class="verdict">{verdict}</span></h2>'
        f'<p class="muted">{split.size} samples{"" if split.calibrated else "; " + why}</p>'
        f'{why if split.calibrated else ""}<div class="groups">{groups}</div></section>'
    )


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
    n_split = sum(s.split for s in splits)
    named = ", ".join(esc(s.class_name) for s in splits if s.split) or "none"
    body = (
        f'<header class="top"><h1>Split clusters in the embeddings of {esc(version)}</h1>'
        f"<p>{n_split} of {len(splits)} classes form well-separated groups: {named}.</p>"
        '<nav class="links"><a href="index.html">scatter</a>'
        '<a href="split_clusters.json">split_clusters.json</a></nav></header><main>'
        "<p>Each class is joined into a graph, every sample to its nearest neighbours, in "
        "two views: the model's embedding, and features the labels did not shape (ImageNet "
        "features of images, time-pooled log-mel statistics of clips). Two kinds of thing "
        "under one name make two communities: the best balanced cut of the graph crosses "
        "few edges (low conductance). How low is low is read off the honest classes: z "
        "counts how far below the other classes' median a class's conductance lies, in "
        "their own robust spread. A class far below in either view probably mixes two "
        "things under one name; its groups and their most typical examples follow.</p>"
        f"{''.join(_class_html(s, config, thumbs, predicted) for s in ordered)}</main>"
    )
    return render_page(f"split clusters of {version}", body, SPLIT_CSS)
