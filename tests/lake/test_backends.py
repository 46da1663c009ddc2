"""The cluster size: a PostgreSQL catalog, an s3:// warehouse and an s3:// source,
against a real PostgreSQL 15 and moto's standalone S3 server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

import flywheel
from flywheel.config import S3Settings, Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake
from flywheel.lake.storage import read_bytes

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _s3_settings(s3) -> S3Settings:  # type: ignore[no-untyped-def]
    return S3Settings(
        endpoint=s3.endpoint,
        region=s3.region,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
    )


def _upload(folder: Path, s3, bucket: str, prefix: str) -> None:  # type: ignore[no-untyped-def]
    client = boto3.client("s3", **s3.client_kwargs())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/{path.relative_to(folder).as_posix()}",
            Body=path.read_bytes(),
        )


def test_postgres_catalog_with_s3_warehouse(tmp_path, pg_url, s3, s3_bucket, digits_folder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        root=tmp_path / "root",
        catalog_uri=pg_url,
        warehouse=f"s3://{s3_bucket}/lake",
        s3=_s3_settings(s3),
    )
    config = IngestConfig(
        str(digits_folder.root), digits_folder.taxonomy, progress=False, inline_max_bytes=0
    )  # every media object goes beside the tables
    first = ingest(settings, config)
    assert first.new == digits_folder.expected_new_samples
    assert dict(first.quarantined) == digits_folder.expected_quarantine
    again = ingest(settings, config)
    assert (again.new, again.already_present) == (0, digits_folder.expected_new_samples)

    lake = Lake(settings)
    rows = lake.read("samples", columns=["sample_id", "media", "media_uri"]).to_pylist()
    in_objects = [r for r in rows if r["media_uri"]]
    assert in_objects and all(
        r["media_uri"].startswith(f"s3://{s3_bucket}/lake/media/") for r in in_objects
    )
    assert len(in_objects) == len(rows)
    assert len(read_bytes(in_objects[0]["media_uri"], settings.s3)) > 0
    n = flywheel.sql("select count(*) as n from samples", settings).column("n")[0].as_py()
    assert n == digits_folder.expected_new_samples
    # The table files really live in the bucket, not on local disk.
    client = boto3.client("s3", **s3.client_kwargs())
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/")["Contents"]]
    assert any(k.endswith(".parquet") for k in keys)
    assert any(k.endswith(".metadata.json") for k in keys)


def test_s3_prefix_source(settings, s3, s3_bucket, digits_folder) -> None:  # type: ignore[no-untyped-def]
    _upload(digits_folder.root, s3, s3_bucket, "incoming/batch-1")
    settings = Settings(
        root=settings.root,
        catalog_uri=settings.catalog_uri,
        warehouse=settings.warehouse,
        s3=_s3_settings(s3),
    )
    summary = ingest(
        settings,
        IngestConfig(f"s3://{s3_bucket}/incoming/batch-1", digits_folder.taxonomy, progress=False),
    )
    assert summary.new == digits_folder.expected_new_samples
    assert dict(summary.quarantined) == digits_folder.expected_quarantine
    assert summary.weak_labelled == digits_folder.expected_weak_labelled
    refs = flywheel.sql("select source_path from samples limit 1", settings).to_pylist()
    assert refs[0]["source_path"].startswith(f"s3://{s3_bucket}/incoming/batch-1/")


def test_same_bytes_from_two_sources_are_one_sample(settings, s3, s3_bucket, digits_folder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        root=settings.root,
        catalog_uri=settings.catalog_uri,
        warehouse=settings.warehouse,
        s3=_s3_settings(s3),
    )
    ingest(settings, IngestConfig(str(digits_folder.root), digits_folder.taxonomy, progress=False))
    _upload(digits_folder.root, s3, s3_bucket, "mirror")
    again = ingest(
        settings, IngestConfig(f"s3://{s3_bucket}/mirror", digits_folder.taxonomy, progress=False)
    )
    assert again.new == 0 and again.already_present == digits_folder.expected_new_samples
