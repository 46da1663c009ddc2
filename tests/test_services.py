"""The test services are real: PostgreSQL over TCP, S3 over HTTP, and an Iceberg lake on both.

The Iceberg test doubles as the reference for how the lake is configured at cluster size:
a pyiceberg SQL catalog in PostgreSQL and an ``s3://`` warehouse.
"""

from __future__ import annotations

import subprocess
import sys

import boto3
import psycopg2
import pyarrow as pa
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog

from tests.services import PostgresInfo, S3Info


def test_postgres_round_trips_a_row_through_sqlalchemy(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)"))
            conn.execute(sa.text("INSERT INTO items VALUES (1, 'cat')"))
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM items")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "cat")]


def test_postgres_round_trips_a_row_through_psycopg2(postgres: PostgresInfo) -> None:
    with psycopg2.connect(postgres.url("postgresql")) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (x int)")
        cur.execute("INSERT INTO t VALUES (%s)", (42,))
        cur.execute("SELECT x FROM t")
        assert cur.fetchall() == [(42,)]
    conn.close()


def test_pg_url_gives_each_test_its_own_database(postgres: PostgresInfo, pg_url: str) -> None:
    # The `items` table of the SQLAlchemy test above must not be visible here.
    assert not pg_url.endswith(f"/{postgres.dbname}")
    engine = sa.create_engine(pg_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_s3_put_and_get_an_object(s3: S3Info, s3_bucket: str) -> None:
    client = boto3.client("s3", **s3.client_kwargs())
    client.put_object(Bucket=s3_bucket, Key="a/b.bin", Body=b"\x00flywheel")
    body = client.get_object(Bucket=s3_bucket, Key="a/b.bin")["Body"].read()
    assert body == b"\x00flywheel"
    assert s3_bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_s3_env_points_a_subprocess_at_the_server(s3: S3Info, s3_bucket: str) -> None:
    # A child process (a Ray job, a CLI) finds the endpoint and keys through AWS_* alone.
    code = (
        "import boto3, sys; c = boto3.client('s3'); "
        "print(c.meta.endpoint_url, c.head_bucket(Bucket=sys.argv[1])"
        "['ResponseMetadata']['HTTPStatusCode'])"
    )
    env = {"PATH": "/usr/bin:/bin", **s3.env()}
    proc = subprocess.run([sys.executable, "-c", code, s3_bucket], env=env, check=True,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.stdout.split() == [s3.endpoint, "200"]


def test_iceberg_table_on_postgres_catalog_and_s3_warehouse(
    pg_url: str, s3: S3Info, s3_bucket: str
) -> None:
    catalog = SqlCatalog(
        "lake",
        uri=pg_url,
        warehouse=f"s3://{s3_bucket}/warehouse",
        **{
            "s3.endpoint": s3.endpoint,
            "s3.access-key-id": s3.access_key_id,
            "s3.secret-access-key": s3.secret_access_key,
            "s3.region": s3.region,
        },
    )
    catalog.create_namespace("flywheel")
    batch = pa.table(
        {
            "sample_id": pa.array(["a1", "b2"], pa.string()),
            "label": pa.array([0, 3], pa.int64()),
        }
    )
    table = catalog.create_table("flywheel.samples", schema=batch.schema)
    table.append(batch)

    reloaded = catalog.load_table("flywheel.samples")
    assert reloaded.scan().to_arrow().sort_by("sample_id").to_pylist() == batch.to_pylist()
    assert reloaded.current_snapshot() is not None

    # Metadata and data really went to the bucket, not to a local folder.
    client = boto3.client("s3", **s3.client_kwargs())
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert any(k.endswith(".parquet") and "/data/" in k for k in keys)
    assert any(k.endswith(".metadata.json") for k in keys)
