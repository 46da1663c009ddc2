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
from flywheel.reports.media import (
    AssetWriter,
    decode_audio,
    image_thumbnail,
    loudest_span,
    waveform_image,
)
from flywheel.reports.page import render, write_page

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
        media = shown.get(r["sample_id"]) or _media(r, None, writer)
        summary.kinds[media.kind] += 1
        cards.append(Card(r, media, flags_of(r)))
    write_page(summary.page, _page(cards, summary, config))
    summary.seconds = time.monotonic() - started
    return summary


@dataclass(frozen=True)
class Media:
    """What a card's media column shows: ``kind`` is image | clip | no preview."""

    kind: str
    src: str = ""  # the thumbnail, or the clip's waveform
    width: int = 0
    height: int = 0
    clip: str = ""  # the clip itself
    note: str = ""  # why there is no preview


@dataclass(frozen=True)
class Card:
    row: dict[str, Any]  # one row of lakeview.card_table
    media: Media
    flags: list[str]


def _media_shown(
    lake: Lake, settings: Settings, rows: list[dict[str, Any]], writer: AssetWriter, progress: bool
) -> dict[str, Media]:
    """sample_id -> media of every card whose media could be looked up: samples' from
    the lake as they stream in (one batch of media held at a time), quarantined inputs'
    from where they were read."""
    out: dict[str, Media] = {}
    bar = tqdm(total=len(rows), desc="cards", unit="card", disable=None if progress else True)
    samples = {r["sample_id"]: r for r in rows if not r["quarantined"]}
    for sid, (_, _, data) in lakeview.iter_media(lake, list(samples)):
        out[sid] = _media(samples[sid], data, writer)
        bar.update()
    for r in rows:
        if r["quarantined"] and r["source_path"]:
            data = lakeview.read_source(r["source_path"], settings)
            out[r["sample_id"]] = _media(r, data, writer)
            bar.update()
    bar.close()
    return out


def _media(row: dict[str, Any], data: bytes | None, writer: AssetWriter) -> Media:
    """Write the card's preview files beside the page; returns what the card shows."""
    sid = row["sample_id"]
    if data is not None and row["modality"] == "audio":
        decoded = decode_audio(data)
        if decoded is not None:
            wave = writer.image(sid, waveform_image(decoded[0], span=loudest_span(*decoded)))
            return Media("clip", src=wave, clip=writer.clip(sid, row["mime"] or "", data))
    elif data is not None:
        thumb = image_thumbnail(data)
        if thumb is not None:
            src = writer.image(sid, thumb)
            return Media("image", src=src, width=thumb.width, height=thumb.height)
    note = "media unreadable" if data is not None else "media not available"
    return Media("no preview", note=note)


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


def _page(cards: list[Card], summary: BrowseSummary, config: BrowseConfig) -> str:
    rows = [c.row for c in cards]
    flags = Counter(f for c in cards for f in c.flags)
    filters = [
        (element_id, label, sorted(values.items()))
        for element_id, label, values in (
            ("filter-class", "class", Counter(r["class_name"] for r in rows)),
            ("filter-source", "source", Counter(r["source"] for r in rows)),
            ("filter-flag", "flag", flags),
        )
    ]
    return render("gallery.html.j2", cards=cards, filters=filters, bad_flags=_BAD,
                  shown=summary.shown, matching=summary.matching, where=config.where,
                  seed=config.seed, model=summary.model_version)  # fmt: skip
