"""``flywheel.lake.staged.without_rows``: the one rewrite of a staged Parquet file that
ingest's and scoring's commits share."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.config import S3Settings
from flywheel.lake.staged import without_rows

SCHEMA = pa.schema([pa.field("sample_id", pa.string()), pa.field("media", pa.binary())])


def _staged(tmp_path: Path, n: int) -> str:
    ids = [f"s{i:04d}" for i in range(n)]
    table = pa.table({"sample_id": ids, "media": [i.encode() * 100 for i in ids]}, SCHEMA)
    path = tmp_path / "part.parquet"
    pq.write_table(table, path, row_group_size=100)
    return str(path)


def test_dropping_listed_rows_rewrites_across_batches_in_order(tmp_path: Path) -> None:
    uri = _staged(tmp_path, 700)  # several row groups and several 256-row batches
    drop = pa.array([f"s{i:04d}" for i in range(0, 700, 3)])
    new = without_rows(uri, "sample_id", drop, keep_listed=False, schema=SCHEMA, s3=S3Settings())
    assert new is not None and new != uri
    assert not Path(uri).exists()  # the old file is gone: a commit never adds it
    kept = pq.read_table(new)
    expected = [f"s{i:04d}" for i in range(700) if i % 3]
    assert kept.column("sample_id").to_pylist() == expected
    assert kept.column("media").to_pylist() == [i.encode() * 100 for i in expected]
    assert kept.schema.equals(SCHEMA)


def test_keeping_listed_rows(tmp_path: Path) -> None:
    uri = _staged(tmp_path, 10)
    keep = pa.array(["s0002", "s0007", "elsewhere"])
    new = without_rows(uri, "sample_id", keep, keep_listed=True, schema=SCHEMA, s3=S3Settings())
    assert new is not None
    assert pq.read_table(new).column("sample_id").to_pylist() == ["s0002", "s0007"]


def test_a_file_that_keeps_every_row_is_left_as_it_is(tmp_path: Path) -> None:
    uri = _staged(tmp_path, 10)
    before = Path(uri).stat().st_mtime_ns
    none = pa.array([], pa.string())
    assert (
        without_rows(uri, "sample_id", none, keep_listed=False, schema=SCHEMA, s3=S3Settings())
        == uri
    )
    assert Path(uri).stat().st_mtime_ns == before


def test_a_file_that_keeps_no_row_is_deleted(tmp_path: Path) -> None:
    uri = _staged(tmp_path, 10)
    none = pa.array([], pa.string())
    assert (
        without_rows(uri, "sample_id", none, keep_listed=True, schema=SCHEMA, s3=S3Settings())
        is None
    )
    assert list(tmp_path.iterdir()) == []


def test_ingest_splits_a_staged_file_into_row_groups_by_bytes(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from flywheel.ingest.worker import write_staged
    from flywheel.lake.schema import SAMPLES

    def row(i: int) -> dict[str, object]:
        return {
            "sample_id": f"s{i}", "modality": "image", "mime": "image/jpeg",
            "mime_mismatch": False, "source": "src", "source_ref": f"r{i}",
            "source_path": f"p{i}", "tags": [], "split": "pool", "media": bytes(1000),
            "size_bytes": 1000, "ingest_run": "run", "ingested_at": datetime.now(UTC),
        }  # fmt: skip

    samples = pa.Table.from_pylist([row(i) for i in range(40)], schema=SAMPLES)
    uri = write_staged(samples, str(tmp_path), S3Settings(), row_group_bytes=10_000)
    meta = pq.ParquetFile(uri).metadata
    assert meta.num_rows == 40
    assert meta.num_row_groups > 1  # about 10 rows of 1 KB media each
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) <= 10
    one = write_staged(samples, str(tmp_path), S3Settings())
    assert pq.ParquetFile(one).metadata.num_row_groups == 1  # 40 KB: far below the default
