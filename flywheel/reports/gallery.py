"""``flywheel browse``: a static one-page gallery of samples and quarantined inputs.

Each card shows the media (thumbnail, or waveform and player), the tags, the weak
label and its rule, the consolidated label, the current model's prediction and, for a
quarantined input, the reason. Cards are grouped and filtered by class, source and
flag in the page itself; the order is random (``seed`` makes it repeatable).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.lake import Lake
from flywheel.reports import lakeview
from flywheel.reports.assets import GALLERY_CSS, GALLERY_JS
from flywheel.reports.media import (
    AssetWriter,
    decode_audio,
    image_thumbnail,
    loudest_span,
    waveform_image,
)
from flywheel.reports.page import esc, render_page, write_page

LOW_CONFIDENCE = 0.5  # a prediction below this probability is flagged "low-confidence"
# Flags in priority order: a card is grouped under its first one.
FLAGS = ("quarantined", "relabelled", "disagrees", "ambiguous", "untagged",
         "low-confidence", "mime-mismatch", "labelled", "ok")  # fmt: skip
_BAD = {"quarantined", "relabelled", "disagrees", "ambiguous", "untagged"}


@dataclass(frozen=True)
class BrowseConfig:
    out: Path
    where: str | None = None  # SQL condition over lakeview.CARD_COLUMNS
    sample: int = 500  # cards at most (random ones); 0 = every matching card
    seed: int | None = None
    model: str = "promoted"  # whose predictions the cards show
    progress: bool = True

    def __post_init__(self) -> None:
        if self.sample < 0:
            raise ConfigError(f"--sample must be 0 (all) or more, got {self.sample}")


@dataclass
class BrowseSummary:
    page: Path
    matching: int
    shown: int
    model_version: str | None
    seconds: float
    kinds: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        what = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds.items())) or "nothing"
        model = self.model_version or "no model"
        return (
            f"browse: {self.shown} of {self.matching} matching cards ({what}), predictions "
            f"of {model}, in {self.seconds:.1f}s -> {self.page}"
        )


def browse(settings: Settings, config: BrowseConfig) -> BrowseSummary:
    """Write ``config.out/index.html`` (and ``media/``); returns what it showed."""
    started = time.monotonic()
    lake = Lake(settings)
    row = lakeview.model_row(lake, config.model, required=False)
    version = row["version"] if row else None
    table = lakeview.card_table(settings, version, config.where)
    order = np.random.default_rng(config.seed).permutation(table.num_rows)
    if config.sample:
        order = order[: config.sample]
    rows = table.take(order).to_pylist()
    writer = AssetWriter(config.out)
    shown = _media_shown(lake, settings, rows, writer, config.progress)
    summary = BrowseSummary(config.out / "index.html", table.num_rows, len(rows), version, 0.0)
    cards = []
    for r in rows:
        media_html, kind = shown.get(r["sample_id"]) or _media_html(r, None, writer)
        summary.kinds[kind] += 1
        cards.append(_card(r, media_html))
    body = _body(rows, cards, summary, config)
    write_page(summary.page, render_page("flywheel browse", body, GALLERY_CSS, GALLERY_JS))
    summary.seconds = time.monotonic() - started
    return summary


def _media_shown(
    lake: Lake, settings: Settings, rows: list[dict[str, Any]], writer: AssetWriter, progress: bool
) -> dict[str, tuple[str, str]]:
    """sample_id -> (media markup, what it shows) of every card whose media could be
    looked up: samples' from the lake as they stream in (one batch of media held at a
    time), quarantined inputs' from where they were read."""
    out: dict[str, tuple[str, str]] = {}
    bar = tqdm(total=len(rows), desc="cards", unit="card", disable=None if progress else True)
    samples = {r["sample_id"]: r for r in rows if not r["quarantined"]}
    for sid, (_, _, data) in lakeview.iter_media(lake, list(samples)):
        out[sid] = _media_html(samples[sid], data, writer)
        bar.update()
    for r in rows:
        if r["quarantined"] and r["source_path"]:
            data = lakeview.read_source(r["source_path"], settings)
            out[r["sample_id"]] = _media_html(r, data, writer)
            bar.update()
    bar.close()
    return out


def _media_html(row: dict[str, Any], data: bytes | None, writer: AssetWriter) -> tuple[str, str]:
    """(markup of the media column, what it shows: image | clip | no preview)."""
    sid, alt = row["sample_id"], esc(row["class_name"])
    if data is not None and row["modality"] == "audio":
        decoded = decode_audio(data)
        if decoded is not None:
            wave = writer.image(sid, waveform_image(decoded[0], span=loudest_span(*decoded)))
            clip = writer.clip(sid, row["mime"] or "", data)
            return (f'<img src="{wave}" alt="waveform of {alt} (shaded: the loudest window,'
                    f' centred in the model\'s input)" width=240 height=64>'
                    f'<audio controls preload=none src="{clip}"></audio>', "clip")  # fmt: skip
    elif data is not None:
        thumb = image_thumbnail(data)
        if thumb is not None:
            src = writer.image(sid, thumb)
            return (f'<img src="{src}" alt="{alt}" width={thumb.width} '
                    f'height={thumb.height}>', "image")  # fmt: skip
    reason = "media unreadable" if data is not None else "media not available"
    return f'<div class="nomedia">{reason}</div>', "no preview"


def flags_of(row: dict[str, Any]) -> list[str]:
    """What is worth a look about a card, in ``FLAGS`` order.

    >>> flags_of({"quarantined": False, "label": "cat", "weak_label": "dog",
    ...           "predicted_label": "cat", "confidence": 0.9, "weak_label_rule": "tag:#dog",
    ...           "mime_mismatch": False})
    ['relabelled', 'labelled']
    """
    if row["quarantined"]:
        return ["quarantined"]
    flags = set()
    truth = row["label"] or row["weak_label"]
    if row["label"] is not None:
        flags.add("labelled")
        if row["weak_label"] is not None and row["label"] != row["weak_label"]:
            flags.add("relabelled")
    if row["predicted_label"] is not None and truth and row["predicted_label"] != truth:
        flags.add("disagrees")
    if row["weak_label"] is None and row["label"] is None:
        rule = row["weak_label_rule"] or ""
        flags.add("ambiguous" if rule.startswith("ambiguous") else "untagged")
    if row["confidence"] is not None and row["confidence"] < LOW_CONFIDENCE:
        flags.add("low-confidence")
    if row["mime_mismatch"]:
        flags.add("mime-mismatch")
    return [f for f in FLAGS if f in flags] or ["ok"]


def _card(row: dict[str, Any], media_html: str) -> str:
    flags = flags_of(row)
    facts = _facts(row)
    badges = "".join(
        f'<span class="flag{" bad" if f in _BAD else ""}">{esc(f)}</span>' for f in flags
    )
    classes = (
        "card"
        + (" quarantined" if row["quarantined"] else "")
        + (" audio" if row["modality"] == "audio" else "")
    )
    data = (
        f'data-id="{esc(row["sample_id"])}" data-class="{esc(row["class_name"])}" '
        f'data-source="{esc(row["source"])}" data-flags="{esc(" ".join(flags))}" '
        f'data-flag="{esc(flags[0])}"'
    )
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts)
    return (
        f'<article class="{classes}" {data}><div class="media">{media_html}</div>'
        f'<dl><dt>id</dt><dd class="id" title="{esc(row["sample_id"])}">'
        f"{esc(row['sample_id'][:10])}…</dd>{items}<dt>flags</dt><dd>{badges}</dd></dl></article>"
    )


def _facts(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(term, escaped HTML) pairs shown on a card; empty facts are left out."""
    if row["quarantined"]:
        return [
            ("quarantine", f"<b>{esc(row['quarantine_reason'])}</b>: {esc(row['quarantine_detail'])}"),
            ("source", esc(row["source_ref"])),
        ]  # fmt: skip
    weak = esc(row["weak_label"] or "—")
    if row["weak_label_rule"]:
        weak += f' <span class="muted">({esc(row["weak_label_rule"])})</span>'
    label = esc(row["label"]) + f' <span class="muted">({esc(row["label_kind"])})</span>'
    pred = None
    if row["predicted_label"] is not None:
        pred = f"{esc(row['predicted_label'])} <span class=muted>{row['confidence']:.2f}</span>"
    facts = [
        ("tags", esc(" ".join(row["tags"] or [])) or "—"),
        ("weak", weak),
        ("label", label if row["label"] is not None else "—"),
        ("predicted", pred or "—"),
        ("source", esc(row["source_ref"])),
    ]
    return facts


def _options(element_id: str, label: str, values: Counter[str]) -> str:
    opts = "".join(
        f'<option value="{esc(v)}">{esc(v)} ({n})</option>' for v, n in sorted(values.items())
    )
    return (
        f'<label for="{element_id}">{label}</label><select id="{element_id}">'
        f'<option value="">all</option>{opts}</select>'
    )


def _body(rows: list[dict[str, Any]], cards: list[str], summary: BrowseSummary,
          config: BrowseConfig) -> str:  # fmt: skip
    flags = Counter(f for r in rows for f in flags_of(r))
    group_by = (
        '<label for="group-by">group by</label><select id="group-by">'
        '<option value="class">class</option><option value="source">source</option>'
        '<option value="flag">flag</option></select>'
    )
    controls = (
        _options("filter-class", "class", Counter(r["class_name"] for r in rows))
        + _options("filter-source", "source", Counter(r["source"] for r in rows))
        + _options("filter-flag", "flag", flags)
        + group_by
        + '<span id="shown" class="muted"></span>'
    )
    where = f" where <code>{esc(config.where)}</code>" if config.where else ""
    model = summary.model_version or "no model yet"
    seed = f"seed {config.seed}" if config.seed is not None else "no seed: a new order each run"
    return (
        '<header class="top"><h1>flywheel browse</h1>'
        f"<p>{summary.shown} of {summary.matching} cards{where}, in random order "
        f"({seed}); predictions of {esc(model)}.</p>"
        f'<div class="controls">{controls}</div></header>'
        f'<main><div id="groups">{"".join(cards)}</div></main>'
    )
