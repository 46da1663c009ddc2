"""The one commit of a scoring run: Parquet files the Ray tasks wrote, added to
``predictions`` in one snapshot by ``commit_fresh`` (docs/decisions/commit-discipline.md).

Scoring actors write their blocks as Parquet files under a staging folder of the table;
the driver then adds the files in one commit. Each attempt reads which samples this model
version has scores for at the head it commits on: when a concurrent run of the same
version committed first, the rows it already holds are taken out of the staged files
(rewritten file by file, memory bounded by one file) before the commit, so every
(model_version, sample_id) is in the table once.
"""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.lake.commit import Change, CommitHook, Head, commit_fresh
from flywheel.lake.storage import filesystem


def staging_uri(lake: Lake) -> str:
    """A fresh folder, inside the predictions table's data, for one run's files."""
    location = lake.table("predictions").location().rstrip("/")
    return f"{location}/data/staging-{uuid.uuid4().hex}"


def staged_files(lake: Lake, uri: str) -> list[str]:
    """The Parquet files under ``uri``, as URIs pyiceberg's ``add_files`` takes."""
    fs, path = filesystem(uri, lake.settings.s3)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    prefix = uri[: len(uri) - len(path)] if uri.endswith(path) else ""
    return sorted(prefix + i.path for i in infos if i.is_file and i.path.endswith(".parquet"))


def commit_predictions(
    lake: Lake,
    version: str,
    files: list[str],
    properties: dict[str, str],
    before_commit: CommitHook | None = None,
) -> int | None:
    """Add ``files`` (rows of ``version``) to ``predictions`` without a sample scored twice."""
    staged = list(files)

    def build(head: Head) -> Change | None:
        done = head.read(["sample_id"], f"model_version == '{version}'").column("sample_id")
        staged[:] = [f for f in (_without(lake, f, done) for f in staged) if f is not None]
        return Change(files=list(staged), properties=properties)

    return commit_fresh(lake, "predictions", build, before_commit)


def _without(lake: Lake, uri: str, done: pa.ChunkedArray) -> str | None:
    """``uri`` with the rows of samples in ``done`` taken out: the same file when it has
    none of them, a rewritten one when it has some, None when it has only those."""
    if len(done) == 0:
        return uri
    fs, path = filesystem(uri, lake.settings.s3)
    ids = pq.read_table(path, columns=["sample_id"], filesystem=fs).column("sample_id")
    known = pc.is_in(ids, value_set=done)
    if not pc.any(known).as_py():
        return uri
    keep = pq.read_table(path, filesystem=fs).filter(pc.invert(known))
    fs.delete_file(path)
    if keep.num_rows == 0:
        return None
    new_uri = uri.removesuffix(".parquet") + "-kept.parquet"
    new_fs, new_path = filesystem(new_uri, lake.settings.s3)
    pq.write_table(keep.cast(TABLE_SCHEMAS["predictions"]), new_path, filesystem=new_fs)
    return new_uri
