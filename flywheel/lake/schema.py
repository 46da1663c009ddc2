"""The table contract: one Arrow schema per lake table.

This module is the single source of truth; ``schemas/<table>.json`` are generated
from it (``python -m flywheel.lake.schema schemas/``) for tools that do not speak
Python, and a test fails when they are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa


def _f(name: str, type_: pa.DataType, nullable: bool, doc: str) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


TIMESTAMP = pa.timestamp("us", tz="UTC")

SAMPLES = pa.schema(
    [
        _f("sample_id", pa.string(), False, "sha256 of the raw bytes, hex; one id per content"),
        _f("modality", pa.string(), False, "image | audio (a flywheel.modalities plugin)"),
        _f("mime", pa.string(), False, "MIME type detected from the magic bytes"),
        _f("mime_mismatch", pa.bool_(), False, "the file extension names another type"),
        _f("source", pa.string(), False, "the ingest source: folder, manifest or s3:// prefix"),
        _f("source_ref", pa.string(), False, "id in the source system (manifest) or the path"),
        _f("source_path", pa.string(), False, "where the bytes were read from"),
        _f("tags", pa.list_(pa.string()), False, "raw tags as given, e.g. #cat"),
        _f("weak_label", pa.string(), True, "class from the taxonomy, null if none or ambiguous"),
        _f("weak_label_rule", pa.string(), True, "tag:<tag> | ambiguous:<a>,<b> | null"),
        _f("split", pa.string(), False, "pool | test | regression"),
        _f("media", pa.binary(), True, "the bytes, inline when small"),
        _f("media_uri", pa.string(), True, "object URI of the bytes when not inline"),
        _f("size_bytes", pa.int64(), False, "size of the raw bytes"),
        _f("width", pa.int32(), True, "image width, pixels"),
        _f("height", pa.int32(), True, "image height, pixels"),
        _f("channels", pa.int32(), True, "image bands or audio channels"),
        _f("duration_s", pa.float64(), True, "audio duration, seconds"),
        _f("sample_rate", pa.int32(), True, "audio sample rate, Hz"),
        _f("ingest_run", pa.string(), False, "id of the ingest run that added the row"),
        _f("ingested_at", TIMESTAMP, False, "when the row was committed (UTC)"),
    ]
)

QUARANTINE = pa.schema(
    [
        _f("content_hash", pa.string(), False, "sha256 of the rejected bytes (or manifest line)"),
        _f("reason", pa.string(), False, "undecodable | truncated | too_small | near_silent | ..."),
        _f("detail", pa.string(), False, "what the check saw, for people"),
        _f("modality", pa.string(), True, "the modality it was checked as, if known"),
        _f("mime", pa.string(), True, "MIME type from the magic bytes, if any"),
        _f("source", pa.string(), False, "the ingest source"),
        _f("source_ref", pa.string(), False, "id in the source system or the path"),
        _f("source_path", pa.string(), False, "where the bytes were read from"),
        _f("ingest_run", pa.string(), False, "id of the ingest run that found it"),
        _f("quarantined_at", TIMESTAMP, False, "when the row was committed (UTC)"),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "samples": SAMPLES,
    "quarantine": QUARANTINE,
}


def describe(schema: pa.Schema) -> list[dict[str, object]]:
    """A JSON-friendly description of ``schema``: name, type, nullable, doc."""
    return [
        {
            "name": f.name,
            "type": str(f.type),
            "nullable": f.nullable,
            "doc": (f.metadata or {}).get(b"doc", b"").decode(),
        }
        for f in schema
    ]


def write_schema_files(dest: Path) -> list[Path]:
    """Write ``dest/<table>.json`` for every table; returns the paths written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in TABLE_SCHEMAS.items():
        path = dest / f"{name}.json"
        doc = {"table": name, "columns": describe(schema)}
        path.write_text(json.dumps(doc, indent=2) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_schema_files(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(p)
