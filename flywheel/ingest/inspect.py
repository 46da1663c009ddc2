"""Turn source items into sample and quarantine rows: read the bytes, detect the type
from magic bytes, hash, decode and check with the modality, map tags to a weak label.

Pure functions over a chunk of items, so a Ray actor (``worker.IngestWorker``) and a
test can call them alike. Every item becomes exactly one row: a sample or a quarantine.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath

import filetype
import pyarrow as pa

from flywheel.config import S3Settings
from flywheel.ingest.sources import EntryProblem, SourceItem, entry_problem, path_hash
from flywheel.lake import QUARANTINE, SAMPLES, put_bytes_if_absent, read_bytes
from flywheel.modalities import Modality, Rejected, get_modality, modality_for_mime
from flywheel.taxonomy import Taxonomy

# Extensions that name the same type as filetype's canonical one.
_EXT_ALIASES = {
    "jpeg": "jpg",
    "jpe": "jpg",
    "tiff": "tif",
    "wave": "wav",
    "aif": "aiff",
    "oga": "ogg",
}
# Extensions that promise media: bytes without a known signature under these names
# are reported as undecodable media rather than an unsupported type.
_MEDIA_EXTS = {
    "png",
    "jpg",
    "gif",
    "bmp",
    "webp",
    "tif",
    "wav",
    "flac",
    "ogg",
    "mp3",
    "m4a",
    "aiff",
}


DEFAULT_MAX_FILE_BYTES = 128 << 20  # media clips and images; a worker holds one at a time


@dataclass(frozen=True)
class InspectConfig:
    """What a worker needs to know; shipped to every Ray actor."""

    source: str
    split: str
    run_id: str
    taxonomy: Taxonomy
    media_prefix: str
    s3: S3Settings
    modality: str | None = None  # None: choose per item from the magic bytes
    inline_max_bytes: int = 1 << 20
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # larger files are quarantined unread
    modality_params: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def inspect_items(items: Iterable[SourceItem], config: InspectConfig) -> tuple[pa.Table, pa.Table]:
    """(samples, quarantine) rows for ``items``; ``ingested_at`` is set at commit."""
    modalities: dict[str, Modality] = {}
    samples: list[dict[str, object]] = []
    rejected: list[dict[str, object]] = []
    for item in items:
        try:
            samples.append(_inspect_one(item, config, modalities))
        except _Quarantine as q:
            rejected.append(_quarantine_row(item, q, config))
    now = datetime.now(UTC)
    for row in samples:
        row["ingested_at"] = now
    for row in rejected:
        row["quarantined_at"] = now
    return (
        pa.Table.from_pylist(samples, schema=SAMPLES),
        pa.Table.from_pylist(rejected, schema=QUARANTINE),
    )


class _Quarantine(Exception):
    def __init__(
        self,
        reason: str,
        detail: str,
        content_hash: str,
        mime: str | None = None,
        modality: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.content_hash = reason, detail, content_hash
        self.mime, self.modality = mime, modality


def entry_rows(entries: Sequence[EntryProblem], config: InspectConfig) -> pa.Table:
    """Quarantine rows for entries the listing did not descend into or could not list."""
    now = datetime.now(UTC)
    rows = [
        {
            "content_hash": e.content_hash,
            "reason": e.reason,
            "detail": e.detail,
            "modality": None,
            "mime": None,
            "source": config.source,
            "source_ref": e.rel_path,
            "source_path": e.uri,
            "ingest_run": config.run_id,
            "quarantined_at": now,
        }
        for e in entries
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE)


def _read(item: SourceItem, config: InspectConfig) -> bytes:
    """The item's bytes, if it is a regular file within the size cap; else a quarantine.
    A local entry is checked with stat before it is opened, and opened non-blocking (a
    pipe swapped in after the check cannot hang the worker), then read up to the cap."""
    cap = config.max_file_bytes
    local = item.uri.startswith("/")
    problem = entry_problem(item.uri, cap) if local else None
    if problem is None and item.size is not None and item.size > cap:
        problem = ("too_large", f"{item.size} bytes, over the {cap}-byte cap (--max-file-mb)")
    if problem is not None:
        raise _Quarantine(*problem, path_hash(item.uri))
    try:
        if not local:
            return read_bytes(item.uri, config.s3)
        fd = os.open(item.uri, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _Quarantine("not_regular_file", "changed after listing", path_hash(item.uri))
            data = f.read(cap + 1)
    except OSError as err:
        raise _Quarantine("unreadable", f"cannot read: {err}", path_hash(item.uri)) from None
    if len(data) > cap:
        raise _Quarantine(
            "too_large", f"over the {cap}-byte cap (--max-file-mb)", path_hash(item.uri)
        )
    return data


def _inspect_one(
    item: SourceItem, config: InspectConfig, modalities: dict[str, Modality]
) -> dict[str, object]:
    data = _read(item, config)
    digest = hashlib.sha256(data).hexdigest()
    ext = _ext(item.rel_path)
    kind = filetype.guess(data)
    if kind is None:
        reason = "undecodable" if ext in _MEDIA_EXTS else "unsupported_type"
        what = "empty file" if not data else "no known image or audio signature"
        raise _Quarantine(reason, what, digest)
    mime = kind.mime
    name = config.modality or modality_for_mime(mime)
    if name is None:
        raise _Quarantine("unsupported_type", f"{mime} is not a supported modality", digest, mime)
    if name not in modalities:
        modalities[name] = get_modality(name, **config.modality_params.get(name, {}))
    modality = modalities[name]
    if not modality.accepts(mime):
        raise _Quarantine("wrong_modality", f"{mime} is not {name}", digest, mime, name)
    try:
        facts = modality.inspect(data, mime)
    except Rejected as r:
        raise _Quarantine(r.reason, r.detail, digest, mime, name) from None
    label, rule = config.taxonomy.weak_label(item.tags)
    inline = len(data) <= config.inline_max_bytes
    media_uri = None
    if not inline:
        media_uri = f"{config.media_prefix}/{digest[:2]}/{digest}.{kind.extension}"
        put_bytes_if_absent(media_uri, data, config.s3)
    expected = filetype.get_type(ext=_EXT_ALIASES.get(ext, ext)) if ext else None
    return {
        "sample_id": digest,
        "modality": name,
        "mime": mime,
        "mime_mismatch": expected is not None and expected.mime != mime,
        "source": config.source,
        "source_ref": item.source_ref,
        "source_path": item.uri,
        "tags": list(item.tags),
        "weak_label": label,
        "weak_label_rule": rule,
        "split": config.split,
        "media": data if inline else None,
        "media_uri": media_uri,
        "size_bytes": len(data),
        "width": facts.width,
        "height": facts.height,
        "channels": facts.channels,
        "duration_s": facts.duration_s,
        "sample_rate": facts.sample_rate,
        "ingest_run": config.run_id,
    }


def _quarantine_row(item: SourceItem, q: _Quarantine, config: InspectConfig) -> dict[str, object]:
    return {
        "content_hash": q.content_hash,
        "reason": q.reason,
        "detail": q.detail,
        "modality": q.modality,
        "mime": q.mime,
        "source": config.source,
        "source_ref": item.source_ref,
        "source_path": item.uri,
        "ingest_run": config.run_id,
    }


def _ext(rel_path: str) -> str:
    return PurePosixPath(rel_path).suffix.lower().lstrip(".")
