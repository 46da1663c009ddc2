"""Scale-out, simulated: ingest and training on a two-node local Ray cluster against an
S3 warehouse (moto's server over HTTP), and every node does part of the work."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flywheel.sample_data import write_digits_folder

TWO_NODES = """
import json, logging, sys
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from flywheel.config import S3Settings, Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake
from flywheel.train.run import TrainConfig, train

root, folder, taxonomy, endpoint, region, key, secret, bucket = sys.argv[1:9]
# One CPU a node: one ingest actor fits on each, and two training workers (0.75 CPU
# each, the rest left to Ray Data's read tasks) cannot both fit on one.
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, logging_level=logging.WARNING)
settings = Settings(
    root=Path(root), catalog_uri=f"sqlite:///{root}/catalog.db",
    warehouse=f"s3://{bucket}/lake",
    s3=S3Settings(endpoint=endpoint, region=region, access_key_id=key, secret_access_key=secret),
    ray_address=cluster.address,
)
ingested = ingest(settings, IngestConfig(folder, taxonomy, progress=False, chunk_size=8))
trained = train(settings, TrainConfig(epochs=1, workers=2, batch_size=16))
files = Lake(settings).data_files("samples")
print(json.dumps({
    "nodes": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
    "ingest_nodes": dict(ingested.nodes), "new": ingested.new,
    "workers": trained.metrics["workers"], "n_train": trained.n_train, "files": files,
}))
ray.shutdown(); cluster.shutdown()
"""


@pytest.mark.slow
def test_ingest_and_training_spread_over_two_nodes_on_s3(tmp_path: Path, s3, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    folder = write_digits_folder(tmp_path / "digits", n=160, seed=5)
    args = [str(tmp_path / "root"), str(folder.root), str(folder.taxonomy), s3.endpoint,
            s3.region, s3.access_key_id, s3.secret_access_key, s3_bucket]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TWO_NODES), *args],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["new"] == folder.expected_new_samples
    assert all(f.startswith(f"s3://{s3_bucket}/lake/") for f in result["files"])
    # Both nodes inspected files, and together every listed file.
    assert sorted(result["ingest_nodes"]) == result["nodes"]
    assert sum(result["ingest_nodes"].values()) == folder.n_files
    # Both training ranks ran, one on each node, and each read its half of the shard.
    workers = result["workers"]
    assert sorted(w["node"] for w in workers) == result["nodes"]
    assert [w["rows"] for w in workers] == [result["n_train"] // 2] * 2
