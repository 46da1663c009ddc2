"""On S3 a task's media_url is a presigned URL of the object (moto's S3 server)."""

from __future__ import annotations

from pathlib import Path

import boto3
import httpx
import pytest

from flywheel.config import Settings
from flywheel.db import open_engine
from flywheel.lake import Lake
from flywheel.queue import store
from flywheel.queue.tasks import enqueue
from tests.queue.conftest import ApiServer, auth
from tests.queue.test_api import samples_table
from tests.services import S3Info


@pytest.mark.slow
def test_presigned_media_urls_on_s3(s3: S3Info, s3_bucket: str, tmp_path: Path) -> None:
    env = {"FLYWHEEL_WAREHOUSE": f"s3://{s3_bucket}/flywheel", **s3.env()}
    settings = Settings.from_env(root=tmp_path / "root", environ=env)
    settings.root.mkdir(parents=True)
    key = "flywheel/media/big.bin"
    boto3.client("s3", **s3.client_kwargs()).put_object(Bucket=s3_bucket, Key=key, Body=b"S3" * 500)
    rows = [("big", None, f"s3://{s3_bucket}/{key}"), ("small", b"inline", None)]
    Lake(settings).commit("samples", samples_table(rows), {})
    engine = open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", ["cat", "dog"], lease_seconds=120)
    enqueue(engine, "q", [{"sample_id": "big"}, {"sample_id": "small"}])
    token = store.add_vendor(engine, "v", ["q"])

    server = ApiServer(settings, env, tmp_path / "api.log").start()
    try:
        with httpx.Client(base_url=server.url, headers=auth(token)) as client:
            tasks = client.post("/v1/queues/q/lease", json={"max_tasks": 2}).json()["tasks"]
            urls = {x["sample_id"]: x["media_url"] for x in tasks}
            assert urls["big"].startswith(f"{s3.endpoint}/{s3_bucket}/{key}?")
            assert "Expires=" in urls["big"] or "X-Amz-Expires=" in urls["big"]
            assert urls["small"].startswith("/v1/media/")  # no public URL configured
            assert httpx.get(urls["big"]).content == b"S3" * 500  # no token needed: signed
            assert client.get(urls["small"]).content == b"inline"
            big_task = next(x["task_id"] for x in tasks if x["sample_id"] == "big")
            redirect = client.get(f"/v1/media/{big_task}")
            assert redirect.status_code == 307
            assert redirect.headers["location"].startswith(f"{s3.endpoint}/{s3_bucket}/{key}?")
    finally:
        server.stop()
