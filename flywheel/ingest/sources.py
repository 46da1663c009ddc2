"""Ingest sources: a folder (with an optional ``manifest.jsonl`` at its top), a manifest
file, or an ``s3://`` prefix. Enumeration runs on the driver and is cheap (names and
tags only); the bytes are read by the workers.

A manifest line is ``{"path": "<relative path>", "tags": ["#cat"], "source_ref": "id"}``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from flywheel.config import S3Settings
from flywheel.errors import SourceError, StorageError

MANIFEST_NAME = "manifest.jsonl"
# Metadata files that sit beside media in a source folder. They are counted in the
# summary as skipped, never ingested as samples (see docs/decisions/sidecar-files.md).
SIDECAR_SUFFIXES = frozenset({".jsonl", ".json", ".yaml", ".yml", ".md", ".txt", ".csv"})


@dataclass(frozen=True)
class SourceItem:
    """One input to read: where its bytes are and what the manifest said about it."""

    uri: str  # absolute local path or s3://bucket/key
    rel_path: str  # path relative to the source root, posix style
    source_ref: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest line that could not be used; it becomes a quarantine row."""

    line_no: int
    raw: bytes
    reason: str  # bad_manifest_line | missing_file
    detail: str
    rel_path: str = ""

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


@dataclass
class Listing:
    """Everything a source holds, as the driver sees it before any bytes are read."""

    source: str
    items: list[SourceItem] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    sidecars: int = 0
    manifest_uri: str | None = None


def list_source(source: str, s3: S3Settings) -> Listing:
    """Enumerate ``source``. Raises ``SourceError`` when it does not exist."""
    if source.startswith("s3://"):
        return _list_s3(source, s3)
    path = Path(source).expanduser()
    if path.is_dir():
        return _list_folder(path.absolute())
    if path.is_file():
        return _list_manifest_file(path.absolute())
    raise SourceError(
        f"source {source} does not exist (expected a folder, a manifest file or s3://)"
    )


def _is_sidecar(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.startswith(".") or os.path.splitext(name)[1].lower() in SIDECAR_SUFFIXES


def _walk(root: Path) -> list[str]:
    """Relative posix paths of every file under ``root``, sorted. os.walk on strings:
    pathlib costs ~200 us a file, which matters at a million files."""
    base = str(root)
    rels: list[str] = []
    for dirpath, _dirs, files in os.walk(base):
        prefix = os.path.relpath(dirpath, base).replace(os.sep, "/")
        rels.extend(f if prefix == "." else f"{prefix}/{f}" for f in files)
    return sorted(rels)


def _list_folder(root: Path) -> Listing:
    listing = Listing(source=str(root))
    rels = _walk(root)
    entries: dict[str, tuple[str, tuple[str, ...]]] = {}
    manifest = root / MANIFEST_NAME
    if manifest.is_file():
        listing.manifest_uri = str(manifest)
        entries = _parse_manifest(manifest.read_bytes(), listing, set(rels))
    base = str(root)
    for rel in rels:
        if _is_sidecar(rel):
            listing.sidecars += 1
            continue
        ref, tags = entries.get(rel, (rel, ()))
        listing.items.append(SourceItem(f"{base}/{rel}", rel, ref, tags))
    return listing


def _list_manifest_file(manifest: Path) -> Listing:
    listing = Listing(source=str(manifest), manifest_uri=str(manifest))
    root = manifest.parent
    existing = {
        str(PurePosixPath(p.relative_to(root).as_posix())) for p in root.rglob("*") if p.is_file()
    }
    entries = _parse_manifest(manifest.read_bytes(), listing, existing)
    for rel, (ref, tags) in sorted(entries.items()):
        listing.items.append(SourceItem(str(root / rel), rel, ref, tags))
    return listing


def _list_s3(source: str, s3: S3Settings) -> Listing:
    from botocore.exceptions import BotoCoreError, ClientError

    from flywheel.lake.storage import s3_client

    parsed = urlparse(source)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    client = s3_client(s3)
    listing = Listing(source=source)
    try:
        keys = [
            obj["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith("/")
        ]
        rels = {k[len(prefix) :]: k for k in sorted(keys)}
        entries: dict[str, tuple[str, tuple[str, ...]]] = {}
        if MANIFEST_NAME in rels:
            listing.manifest_uri = f"s3://{bucket}/{rels[MANIFEST_NAME]}"
            body = client.get_object(Bucket=bucket, Key=rels[MANIFEST_NAME])["Body"].read()
            entries = _parse_manifest(body, listing, set(rels))
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "?")
        raise SourceError(f"cannot list {source}: {code}") from None
    except BotoCoreError as err:
        raise StorageError(f"cannot reach S3 endpoint {s3.endpoint or 'AWS S3'}: {err}") from None
    if not rels:
        raise SourceError(f"source {source} holds no objects")
    for rel, key in rels.items():
        if _is_sidecar(rel):
            listing.sidecars += 1
            continue
        ref, tags = entries.get(rel, (rel, ()))
        listing.items.append(SourceItem(f"s3://{bucket}/{key}", rel, ref, tags))
    return listing


def _parse_manifest(
    body: bytes, listing: Listing, existing: set[str]
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Parse manifest lines into {rel_path: (source_ref, tags)}; bad lines and lines
    naming a missing file go to ``listing.problems``."""
    entries: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line_no, raw in enumerate(body.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rel, ref, tags = _parse_line(raw)
        except ValueError as err:
            listing.problems.append(ManifestProblem(line_no, raw, "bad_manifest_line", str(err)))
            continue
        if rel not in existing:
            listing.problems.append(
                ManifestProblem(line_no, raw, "missing_file", f"no file at {rel}", rel)
            )
            continue
        entries.setdefault(rel, (ref or rel, tags))
    return entries


def _parse_line(raw: bytes) -> tuple[str, str | None, tuple[str, ...]]:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"not JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("path"), str) or not doc["path"]:
        raise ValueError('not an object with a "path" string')
    tags = doc.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError('"tags" must be a list of strings')
    ref = doc.get("source_ref")
    if ref is not None and not isinstance(ref, str | int):
        raise ValueError('"source_ref" must be a string')
    rel = PurePosixPath(doc["path"])
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"path {doc['path']!r} must be relative and stay inside the source")
    return str(rel), None if ref is None else str(ref), tuple(tags)
