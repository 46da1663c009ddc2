"""What the reports read from the lake: one card per sample (and per quarantined
input), one point per scored sample, media bytes, and model rows.

A sample's *class* is its label by the lake's one rule (``flywheel.lake.labels_view_sql``:
its consolidated label when it has one, else its weak label): what the next training
run would learn it as. Media come through ``flywheel.lake.media``'s scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.config import Settings
from flywheel.errors import NotFoundError
from flywheel.lake import CONSOLIDATED, Lake, labels_view_sql, media_batches, read_bytes, sql
from flywheel.train import PROMOTED_ALIAS, Models

NO_CLASS = "(none)"
QUARANTINED = "(quarantined)"
# The consolidated label of a sample joined as ``lab`` (null when its label is weak).
_CONSOLIDATED_LABEL = f"case when lab.label_source = '{CONSOLIDATED}' then lab.label end"

# Columns a --where condition can use; one row per sample and per quarantined input.
CARD_COLUMNS = (
    "sample_id, modality, mime, mime_mismatch, source, source_ref, source_path, tags, "
    "weak_label, weak_label_rule, split, width, height, duration_s, sample_rate, label, "
    "label_kind, predicted_label, confidence, class_name, quarantined, quarantine_reason, "
    "quarantine_detail"
)


def literal(text: str) -> str:
    """``text`` as a SQL string literal.

    >>> literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def model_row(lake: Lake, version: str, required: bool = True) -> dict[str, Any] | None:
    """The models row of ``version`` ("promoted" for the promoted one). With
    ``required=False`` a missing promoted model gives None instead of an error."""
    models = Models.read(lake)
    if version == PROMOTED_ALIAS and not required and models.promoted() is None:
        return None
    return models.get(version)


def _predictions(version: str | None, columns: Sequence[str]) -> str:
    """The newest prediction per sample of ``version`` (no rows when None)."""
    picked = ", ".join(f"arg_max({c}, scored_at) as {c}" for c in columns)
    where = f"model_version = {literal(version)}" if version else "false"
    return f"select sample_id, {picked} from predictions where {where} group by sample_id"


def card_table(settings: Settings, version: str | None, where: str | None) -> pa.Table:
    """Every card matching ``where`` (a SQL condition over ``CARD_COLUMNS``), without
    media; quarantined inputs have ``quarantined`` true and class ``(quarantined)``."""
    query = f"""
    with lab as ({labels_view_sql()}),
    pred as ({_predictions(version, ["predicted_label", "confidence"])}),
    cards as (
      select s.sample_id, s.modality, s.mime, s.mime_mismatch, s.source, s.source_ref,
        s.source_path, s.tags, s.weak_label, s.weak_label_rule, s.split, s.width, s.height,
        s.duration_s, s.sample_rate, {_CONSOLIDATED_LABEL} as label, lab.label_kind,
        pred.predicted_label, pred.confidence, coalesce(lab.label, {literal(NO_CLASS)}) as class_name,
        false as quarantined, null::varchar as quarantine_reason,
        null::varchar as quarantine_detail
      from samples s left join lab using (sample_id) left join pred using (sample_id)
      union all by name
      select content_hash as sample_id, coalesce(modality, 'unknown') as modality, mime,
        source, source_ref, source_path, {literal(QUARANTINED)} as class_name,
        true as quarantined, reason as quarantine_reason, detail as quarantine_detail
      from quarantine
      qualify row_number() over (partition by content_hash order by quarantined_at desc) = 1
    )
    select {CARD_COLUMNS} from cards where ({where or "true"}) order by sample_id
    """
    return sql(query, settings)


def point_table(settings: Settings, version: str) -> pa.Table:
    """One row per sample scored by ``version``: its embedding, prediction and class."""
    query = f"""
    with lab as ({labels_view_sql()}),
    pred as ({_predictions(version, ["embedding", "predicted_label", "confidence"])})
    select pred.sample_id, pred.embedding, pred.predicted_label, pred.confidence,
      s.modality, s.mime, s.weak_label, {_CONSOLIDATED_LABEL} as label,
      coalesce(lab.label, {literal(NO_CLASS)}) as class_name
    from pred join samples s using (sample_id) left join lab using (sample_id)
    order by pred.sample_id
    """
    table = sql(query, settings)
    if table.num_rows == 0:
        raise NotFoundError(
            f"model {version} has scored no samples yet; run `flywheel score --model {version}`"
        )
    return table


def iter_media(
    lake: Lake, sample_ids: Sequence[str]
) -> Iterator[tuple[str, tuple[str, str, bytes | None]]]:
    """(sample_id, (modality, mime, bytes)) of each of ``sample_ids`` in the lake, a
    record batch at a time (``flywheel.lake.media.media_batches``): only their rows and
    only the media columns are read, so a caller that handles each as it comes holds one
    batch of media, not all of it. Bytes are None where an object cannot be read: a
    report shows what it can and marks the rest."""
    for batch in media_batches(lake, sample_ids, columns=("modality", "mime")):
        for r in batch.to_pylist():
            data = r["media"]
            if data is None and r["media_uri"]:
                data = read_source(r["media_uri"], lake.settings)
            yield r["sample_id"], (r["modality"], r["mime"], data)


def read_source(uri: str, settings: Settings) -> bytes | None:
    """The bytes at ``uri`` (a path, file:// or s3:// URI), or None when unreadable:
    a report shows what it can and marks the rest."""
    try:
        return read_bytes(uri, settings.s3)
    except (OSError, ValueError):
        return None


def class_column(table: pa.Table) -> list[str]:
    return [str(v) for v in pc.fill_null(table.column("class_name"), NO_CLASS).to_pylist()]
