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

import pyarrow.fs as pafs
from pyiceberg.expressions import EqualTo, Reference
from pyiceberg.expressions.literals import literal

from flywheel.lake import (
    TABLE_SCHEMAS,
    Change,
    CommitHook,
    Head,
    Lake,
    commit_fresh,
    filesystem,
    without_rows,
)


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
    schema, s3 = TABLE_SCHEMAS["predictions"], lake.settings.s3

    def build(head: Head) -> Change | None:
        of_version = EqualTo(term=Reference("model_version"), value=literal(version))
        done = head.read(["sample_id"], of_version).column("sample_id")
        if len(done):
            kept = (
                without_rows(f, "sample_id", done, keep_listed=False, schema=schema, s3=s3)
                for f in staged
            )
            staged[:] = [f for f in kept if f is not None]
        return Change(files=list(staged), properties=properties)

    return commit_fresh(lake, "predictions", build, before_commit)
