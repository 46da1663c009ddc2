"""Staged Parquet files: data files a run wrote under a table's folder before its one
commit adds them (ingest workers, scoring actors). A commit that learns some staged rows
must not land (a duplicate, a row the lake already holds) rewrites the file without them.
"""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flywheel.config import S3Settings
from flywheel.errors import StorageError
from flywheel.lake.storage import filesystem

_BATCH_ROWS = 256  # rows read and written at a time: bounds memory when rows hold media


def without_rows(
    uri: str,
    column: str,
    values: pa.Array | pa.ChunkedArray,
    *,
    keep_listed: bool,
    schema: pa.Schema,
    s3: S3Settings,
) -> str | None:
    """``uri`` without some of its rows: with ``keep_listed`` only the rows whose
    ``column`` is in ``values`` stay, without it those rows go. Returns the same URI when
    every row stays, a new file's (``schema``; the old one deleted) when some do, None
    (deleted) when none do. Only ``column`` is read to decide; the rewrite streams
    ``_BATCH_ROWS`` rows at a time, so memory stays at one batch whatever the file holds.
    """
    fs, path = filesystem(uri, s3)
    try:
        parquet = pq.ParquetFile(path, filesystem=fs)
        listed = pc.is_in(parquet.read(columns=[column]).column(column), value_set=values)
        keep = listed if keep_listed else pc.invert(listed)
        n_keep = pc.sum(keep).as_py() or 0
        if n_keep == parquet.metadata.num_rows:
            return uri
        new_uri = None
        if n_keep:
            new_uri = f"{uri.removesuffix('.parquet')}-{uuid.uuid4().hex[:8]}.parquet"
            _write_kept(parquet, keep.combine_chunks(), new_uri, schema, s3)
        fs.delete_file(path)
    except OSError as err:
        raise StorageError(f"cannot rewrite staged file {uri}: {err}") from None
    return new_uri


def _write_kept(
    parquet: pq.ParquetFile, keep: pa.BooleanArray, uri: str, schema: pa.Schema, s3: S3Settings
) -> None:
    fs, path = filesystem(uri, s3)
    start = 0
    with pq.ParquetWriter(path, schema, filesystem=fs) as writer:
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
            kept = pa.Table.from_batches([batch]).filter(keep.slice(start, batch.num_rows))
            start += batch.num_rows
            if kept.num_rows:
                writer.write_table(kept.cast(schema))
