"""Ingest streams: workers write the Parquet files, the driver commits them once.

A worker killed mid-run leaves no snapshot and no visible row, and the rerun lands
everything once; an unwritable warehouse is one line and a non-zero exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake
from flywheel.sample_data import write_digits_folder

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def _parent(pid: int) -> int:
    # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parens.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _our_workers() -> list[int]:
    """Pids of this test process's own ingest actors (other sessions may run theirs)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not cmdline.startswith("ray::IngestWorker"):
                continue
            pid = int(entry.name)
            while pid > 1 and pid != me:
                pid = _parent(pid)
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        if pid == me:
            found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_ingest_leaves_nothing_and_the_rerun_lands_all_once(
    tmp_path: Path,
) -> None:
    folder = write_digits_folder(tmp_path / "digits", n=1200, seed=4)
    settings = Settings.from_env(root=tmp_path / "root", environ={})
    config = IngestConfig(str(folder.root), folder.taxonomy, progress=False, chunk_size=8)
    data = _local(Lake(settings).table("samples").location()) / "data"
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["summary"] = ingest(settings, config)
        except Exception as err:  # the killed worker's error, raised to the caller
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 300
    while not list(data.glob("ingest-*/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until a worker has written a staged file
    victims = _our_workers()
    assert victims, "no ingest worker found to kill"
    os.kill(victims[0], signal.SIGKILL)
    thread.join(timeout=600)
    assert "error" in outcome, "the run finished before a worker could be killed"

    lake = Lake(settings)
    assert lake.current_snapshot_id("samples") is None  # no snapshot, no visible row
    assert lake.current_snapshot_id("quarantine") is None
    again = ingest(settings, config)
    assert again.new == folder.expected_new_samples
    samples = lake.read("samples", columns=["sample_id"])
    assert samples.num_rows == folder.expected_new_samples
    # Every committed file is the rerun's own; the killed run's are never referenced.
    files = lake.data_files("samples")
    assert files and all(f"ingest-{again.run_id}" in f for f in files)


def test_staged_files_of_duplicates_and_known_samples_never_land(tmp_path: Path) -> None:
    # The digits folder holds same-bytes files; a second folder repeats some samples.
    first = write_digits_folder(tmp_path / "a", n=120, seed=1)
    settings = Settings.from_env(root=tmp_path / "root", environ={})
    ingest(settings, IngestConfig(str(first.root), first.taxonomy, progress=False, chunk_size=7))
    lake = Lake(settings)
    again = ingest(settings, IngestConfig(str(first.root), first.taxonomy, progress=False))
    assert again.new == 0 and again.already_present == first.expected_new_samples
    ids = lake.read("samples", columns=["sample_id"]).column("sample_id").to_pylist()
    assert len(ids) == len(set(ids)) == first.expected_new_samples
    # Nothing staged is left behind by a run that added nothing.
    data = _local(lake.table("samples").location()) / "data"
    committed = {_local(f).name for f in lake.data_files("samples") or []}
    left = {p.name for p in data.glob("ingest-*/*.parquet")}
    assert left == committed


def test_an_unwritable_warehouse_is_one_line_and_writes_nothing(
    tmp_path: Path, digits_folder
) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    settings = Settings.from_env(root=root, environ={})
    lake = Lake(settings)
    data = _local(lake.table("samples").location()) / "data"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("a file where the data folder should be")  # as unwritable as a full disk
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "--root", str(root), "ingest",
         str(digits_folder.root), "--taxonomy", str(digits_folder.taxonomy)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("flywheel: error: ")]
    assert len(errors) == 1 and "cannot write to the warehouse" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert Lake(settings).current_snapshot_id("samples") is None
    assert Lake(settings).current_snapshot_id("quarantine") is None


def test_an_s3_prefix_over_several_list_pages_lands_every_object_once(
    tmp_path: Path, s3, s3_bucket: str
) -> None:  # type: ignore[no-untyped-def]
    import boto3

    from flywheel.config import S3Settings

    folder = write_digits_folder(tmp_path / "digits", n=60, seed=9)
    client = boto3.client("s3", **s3.client_kwargs())
    files = sorted(p for p in folder.root.rglob("*") if p.is_file())
    for path in files:
        key = f"digits/{path.relative_to(folder.root).as_posix()}"
        client.put_object(Bucket=s3_bucket, Key=key, Body=path.read_bytes())
    settings = Settings(
        root=tmp_path / "root", catalog_uri=f"sqlite:///{tmp_path}/catalog.db",
        warehouse=(tmp_path / "warehouse").as_uri(),
        s3=S3Settings(endpoint=s3.endpoint, region=s3.region,
                      access_key_id=s3.access_key_id, secret_access_key=s3.secret_access_key),
    )  # fmt: skip
    source = f"s3://{s3_bucket}/digits"
    config = IngestConfig(
        source, folder.taxonomy, progress=False, chunk_size=4, workers=2, list_page_size=7
    )
    local = ingest(Settings.from_env(root=tmp_path / "local", environ={}),
                   IngestConfig(str(folder.root), folder.taxonomy, progress=False))  # fmt: skip
    summary = ingest(settings, config)
    assert len(files) > 3 * 7  # several pages
    # The same run as from the folder: every object seen once, the same summary.
    for field in ("files", "new", "duplicates", "quarantined", "sidecars_skipped"):
        assert getattr(summary, field) == getattr(local, field), field
    refs = Lake(settings).table("samples").scan(selected_fields=("source_ref",)).to_arrow()
    assert refs.num_rows == summary.new
    assert len(set(refs.column("source_ref").to_pylist())) == refs.num_rows
    assert ingest(settings, config).new == 0  # a re-run adds nothing
