"""Ingest sources: a folder (with an optional ``manifest.jsonl`` at its top), a manifest
file, or an ``s3://`` prefix. Enumeration runs on the driver and is cheap (names and
tags only; an S3 prefix is streamed a page at a time); the bytes are read by the workers, which read regular files only
(``entry_problem``; docs/decisions/ingest-entries.md).

A manifest line is ``{"path": "<relative path>", "tags": ["#cat"], "source_ref": "id"}``.
A manifest is read a chunk at a time, line by line (never its whole body at once), only
from a regular file, and a line over ``MAX_MANIFEST_LINE`` bytes is an error.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import stat
import sys
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from flywheel.config import S3Settings
from flywheel.errors import SourceError, StorageError

MANIFEST_NAME = "manifest.jsonl"
MAX_MANIFEST_LINE = 1 << 20  # bytes; a real line is a path, a few tags and an id
_CHUNK = 1 << 16  # bytes read from a manifest at a time
# Metadata files that sit beside media in a source folder. They are counted in the
# summary as skipped, never ingested as samples (see docs/decisions/sidecar-files.md).
S3_PAGE_SIZE = 1000  # keys per S3 list request (the most S3 returns)
SIDECAR_SUFFIXES = frozenset({".jsonl", ".json", ".yaml", ".yml", ".md", ".txt", ".csv"})


@dataclass(frozen=True)
class SourceItem:
    """One input to read: where its bytes are and what the manifest said about it."""

    uri: str  # absolute local path or s3://bucket/key
    rel_path: str  # path relative to the source root, posix style
    source_ref: str
    tags: tuple[str, ...] = ()
    size: int | None = None  # bytes, when the listing knows it (S3)


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest line that could not be used; it becomes a quarantine row."""

    line_no: int
    raw: bytes
    reason: str  # bad_manifest_line | missing_file | conflicting_manifest_line
    detail: str
    rel_path: str = ""

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


@dataclass(frozen=True)
class EntryProblem:
    """A folder entry the listing does not descend into or cannot list (a link to a
    directory, a directory it may not read); it becomes a quarantine row."""

    uri: str
    rel_path: str
    reason: str  # linked_directory | link_loop | broken_link | unreadable_directory
    detail: str

    @property
    def content_hash(self) -> str:  # nothing was read: the hash of where it is
        return path_hash(self.uri)


@dataclass
class Listing:
    """Everything a source holds, as the driver sees it before any bytes are read."""

    source: str
    # A list for folders and manifest files; streamed for S3, where ``problems`` and
    # ``sidecars`` are complete only once the items have been iterated to the end.
    items: Iterable[SourceItem] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    entries: list[EntryProblem] = field(default_factory=list)
    sidecars: int = 0
    manifest_uri: str | None = None


def path_hash(uri: str) -> str:
    """The quarantine ``content_hash`` of an entry that was never read."""
    return hashlib.sha256(uri.encode("utf-8", "surrogateescape")).hexdigest()


def entry_problem(path: str, max_bytes: int) -> tuple[str, str] | None:
    """Why the local entry at ``path`` is not read, as (reason, detail), or None for a
    regular file of at most ``max_bytes``. Only ``stat`` and ``lstat``: a pipe, device
    or socket is never opened. A link to a regular file is followed (symlink farms are
    a legitimate way to lay out a data set); a link to a directory is not."""
    try:
        st = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "link_loop", "a symbolic link that points back into itself"
        if os.path.islink(path):
            return "broken_link", f"a symbolic link to {os.readlink(path)}, which does not exist"
        return "unreadable", f"cannot stat: {err.strerror}"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if st.st_size > max_bytes:
            return "too_large", f"{st.st_size} bytes, over the {max_bytes}-byte cap (--max-file-mb)"
        return None
    if stat.S_ISDIR(mode):
        if not os.path.islink(path):  # a manifest line naming a folder
            return "directory", "a directory, not a file; ingest it as a source itself"
        return "linked_directory", "a link to a directory; ingest its target as a source itself"
    for test, reason in _SPECIAL:
        if test(mode):
            return reason, f"a {reason.replace('_', ' ')}, not a regular file; not opened"
    return "not_regular_file", f"file type {stat.S_IFMT(mode):o} is not a regular file"


_SPECIAL = (
    (stat.S_ISFIFO, "named_pipe"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "device"),
    (stat.S_ISBLK, "device"),
)


def list_source(source: str, s3: S3Settings, page_size: int = S3_PAGE_SIZE) -> Listing:
    """Enumerate ``source``. Raises ``SourceError`` when it does not exist. An S3
    prefix is listed ``page_size`` keys a request, as its items are iterated."""
    if source.startswith("s3://"):
        return _list_s3(source, s3, page_size)
    path = Path(source).expanduser()
    if path.is_dir():
        return _list_folder(path.absolute())
    if os.path.lexists(path):  # a manifest file; anything else there is refused by name
        return _list_manifest_file(path.absolute())
    raise SourceError(
        f"source {source} does not exist (expected a folder, a manifest file or s3://)"
    )


def _is_sidecar(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.startswith(".") or os.path.splitext(name)[1].lower() in SIDECAR_SUFFIXES


def _walk(root: Path, listing: Listing) -> list[str]:
    """Relative posix paths of every non-directory entry under ``root``, sorted (each is
    checked by the worker before it is read). Links to directories are not descended
    and, like directories that cannot be listed, go to ``listing.entries``. os.walk on
    strings: pathlib costs ~200 us a file, which matters at a million files."""
    base = str(root)
    rels: list[str] = []

    def rel_of(path: str) -> str:
        return os.path.relpath(path, base).replace(os.sep, "/")

    def unlisted(err: OSError) -> None:
        path = str(err.filename)
        listing.entries.append(
            EntryProblem(path, rel_of(path), "unreadable_directory", f"cannot list: {err.strerror}")
        )

    for dirpath, dirs, files in os.walk(base, onerror=unlisted):
        prefix = rel_of(dirpath)
        for d in dirs:
            path = os.path.join(dirpath, d)
            if os.path.islink(path):  # os.walk does not follow it; say so
                reason, detail = entry_problem(path, 0) or ("linked_directory", "")
                listing.entries.append(EntryProblem(path, rel_of(path), reason, detail))
        rels.extend(f if prefix == "." else f"{prefix}/{f}" for f in files)
    return sorted(rels)


def _list_folder(root: Path) -> Listing:
    listing = Listing(source=str(root))
    rels = _walk(root, listing)
    entries: dict[str, tuple[str, tuple[str, ...]]] = {}
    manifest = root / MANIFEST_NAME
    if os.path.lexists(manifest):  # a pipe or a broken link there is an error, not ignored
        listing.manifest_uri = str(manifest)
        with _open_manifest(manifest) as f:
            entries = _parse_manifest(_file_lines(f, manifest), listing, set(rels))
    base, items = str(root), []
    for rel in rels:
        if _is_sidecar(rel):
            listing.sidecars += 1
            continue
        ref, tags = entries.get(rel, (rel, ()))
        items.append(SourceItem(f"{base}/{rel}", rel, ref, tags))
    listing.items = items
    return listing


def _list_manifest_file(manifest: Path) -> Listing:
    listing = Listing(source=str(manifest), manifest_uri=str(manifest))
    root = manifest.parent
    # Only the named paths are looked at (lexists: a link or a pipe is there, and the
    # worker says what it is), never the whole tree around the manifest.
    with _open_manifest(manifest) as f:
        entries = _parse_manifest(_file_lines(f, manifest), listing, _Exists(root))
    listing.items = [
        SourceItem(str(root / rel), rel, ref, tags) for rel, (ref, tags) in sorted(entries.items())
    ]
    return listing


def _open_manifest(path: Path) -> Any:
    """``path`` open for binary reading, or ``SourceError`` when it is not a regular file
    (the checks of ``entry_problem``, then the open file's own type, so a pipe put there
    in between is refused too, never waited on)."""
    problem = entry_problem(str(path), sys.maxsize)
    if problem is None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe does not block open
        except OSError as err:
            raise SourceError(f"cannot read manifest {path}: {err.strerror}") from None
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return os.fdopen(fd, "rb")
        os.close(fd)
        problem = ("not_regular_file", "not a regular file")
    raise SourceError(f"manifest {path} is not read: {problem[1]}")


def _file_lines(f: Any, path: Path) -> Iterator[bytes]:
    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = f.read(_CHUNK)
            except OSError as err:
                raise SourceError(f"cannot read manifest {path}: {err.strerror}") from None
            if not chunk:
                return
            yield chunk

    return _manifest_lines(chunks(), str(path))


def _manifest_lines(chunks: Iterable[bytes], where: str) -> Iterator[bytes]:
    """The lines of a manifest that arrives as ``chunks`` (a trailing ``\r`` dropped),
    holding at most one line and one chunk at a time. A line longer than
    ``MAX_MANIFEST_LINE`` raises ``SourceError`` naming its number."""

    def too_long(line_no: int) -> SourceError:
        return SourceError(
            f"manifest {where}: line {line_no} is longer than {MAX_MANIFEST_LINE} bytes; "
            "a manifest line is one JSON object per file"
        )

    line_no, pending = 0, b""
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            line_no += 1
            if len(line) > MAX_MANIFEST_LINE:
                raise too_long(line_no)
            yield line.removesuffix(b"\r")
        if len(pending) > MAX_MANIFEST_LINE:
            raise too_long(line_no + 1)
    if pending:
        yield pending.removesuffix(b"\r")


def _list_s3(source: str, s3: S3Settings, page_size: int) -> Listing:
    """The listing of an S3 prefix, its items streamed page by page (``page_size`` keys a
    request) as the caller iterates: a prefix of millions of keys is never held whole.
    The bucket, the first page and the manifest are read here, so a missing bucket or an
    empty prefix fails before any work; manifest lines naming keys that are not there
    become problems once the listing has passed them all (at the end of the items)."""
    from flywheel.lake import s3_client

    bucket, prefix = _bucket_prefix(source)
    listing = Listing(source=source)
    with _s3_errors(source, s3):
        client = s3_client(s3)
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
        )
        objects = (o for page in pages for o in page.get("Contents", []))
        objects = (o for o in objects if not o["Key"].endswith("/"))
        first = next(objects, None)
        if first is None:
            raise SourceError(f"source {source} holds no objects")
        key = prefix + MANIFEST_NAME
        lines = _s3_manifest(client, bucket, key)
        entries: dict[str, tuple[str, tuple[str, ...]]] = {}
        if lines is not None:
            listing.manifest_uri = f"s3://{bucket}/{key}"
            # Every named key exists, for now: which do not is known only at the end,
            # when the manifest is read a second time (streamed both times).
            entries = _parse_manifest(lines, Listing(source=source), _Anything())
    listed = itertools.chain([first], objects)
    reread = None if lines is None else lambda: _s3_manifest(client, bucket, key) or iter(())
    listing.items = _s3_items(source, s3, listing, listed, entries, reread)
    return listing


def _bucket_prefix(source: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as ("bucket", "some/prefix/")."""
    parsed = urlparse(source)
    prefix = parsed.path.lstrip("/")
    return parsed.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _s3_items(
    source: str,
    s3: S3Settings,
    listing: Listing,
    objects: Iterator[dict[str, Any]],
    entries: dict[str, tuple[str, tuple[str, ...]]],
    manifest: Callable[[], Iterator[bytes]] | None,
) -> Iterator[SourceItem]:
    """The items of ``objects``, counting sidecars on ``listing``; at the end, the
    manifest's problems. S3 lists keys in UTF-8 byte order, which is Python's order of
    str: the items come sorted by path, as a folder's do."""
    bucket, prefix = _bucket_prefix(source)
    seen: set[str] = set()  # keys the manifest names that the listing passed
    with _s3_errors(source, s3):
        for obj in objects:
            key = obj["Key"]
            rel = key[len(prefix) :]
            if rel in entries:
                seen.add(rel)
            if _is_sidecar(rel):
                listing.sidecars += 1
                continue
            ref, tags = entries.get(rel, (rel, ()))
            yield SourceItem(f"s3://{bucket}/{key}", rel, ref, tags, int(obj.get("Size", 0)))
    if manifest is not None:
        with _s3_errors(source, s3):
            _parse_manifest(manifest(), listing, seen)


def _s3_manifest(client: Any, bucket: str, key: str) -> Iterator[bytes] | None:
    """The lines of the manifest at ``key``, streamed, or None when there is none."""
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return _manifest_lines(body.iter_chunks(_CHUNK), f"s3://{bucket}/{key}")


@contextlib.contextmanager
def _s3_errors(source: str, s3: S3Settings) -> Iterator[None]:
    """S3 errors while listing as one-line flywheel errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "?")
        raise SourceError(f"cannot list {source}: {code}") from None
    except BotoCoreError as err:
        raise StorageError(f"cannot reach S3 endpoint {s3.endpoint or 'AWS S3'}: {err}") from None


class _Anything:
    """``rel in _Anything()`` is always true."""

    def __contains__(self, rel: object) -> bool:
        return True


class _Exists:
    """``rel in _Exists(root)``: whether an entry (of any type) is at ``root/rel``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __contains__(self, rel: object) -> bool:
        return isinstance(rel, str) and os.path.lexists(self.root / rel)


def _parse_manifest(
    lines: Iterable[bytes], listing: Listing, existing: Container[str]
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Parse manifest lines into {rel_path: (source_ref, tags)}; bad lines, lines
    naming a missing file, and a second line for a path that says something else (the
    first line wins) go to ``listing.problems``. An identical repeat adds nothing."""
    entries: dict[str, tuple[str, tuple[str, ...]]] = {}
    first_line: dict[str, int] = {}
    for line_no, raw in enumerate(lines, start=1):
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
        entry = (ref or rel, tags)
        if rel in entries:
            if entries[rel] != entry:
                detail = f"{rel} is given on line {first_line[rel]} with other tags or source_ref"
                listing.problems.append(
                    ManifestProblem(line_no, raw, "conflicting_manifest_line", detail, rel)
                )
            continue
        entries[rel], first_line[rel] = entry, line_no
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
