"""Ingest reads regular files only: every other folder entry (pipe, socket, device,
broken link, link loop, link to a directory, file over the size cap) and a conflicting
manifest line is a quarantine row with its own reason; links to regular files are
followed (docs/decisions/ingest-entries.md)."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from pathlib import Path

import pytest
from PIL import Image

from flywheel.config import S3Settings, Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.ingest.inspect import InspectConfig, inspect_items
from flywheel.ingest.sources import SourceItem
from flywheel.lake import Lake
from flywheel.taxonomy import Taxonomy


def _png(seed: int, size: int = 16) -> bytes:
    image = Image.new("L", (size, size), color=seed % 256)
    image.putpixel((seed % size, 0), 255 - seed % 256)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _special_entries(root: Path) -> dict[str, str]:
    """Entries that must never be opened, by name, with the reason each must get."""
    os.mkfifo(root / "pipe.png")
    (root / "null.png").symlink_to("/dev/null")
    (root / "gone.png").symlink_to(root / "nowhere.png")
    (root / "loop-a.png").symlink_to(root / "loop-b.png")
    (root / "loop-b.png").symlink_to(root / "loop-a.png")
    return {
        "pipe.png": "named_pipe",
        "null.png": "device",
        "gone.png": "broken_link",
        "loop-a.png": "link_loop",
        "loop-b.png": "link_loop",
    }


def test_the_worker_never_opens_a_pipe_or_a_device(tmp_path: Path) -> None:
    expected = _special_entries(tmp_path)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.png"))
    expected["sock.png"] = "socket"
    config = InspectConfig(
        source=str(tmp_path), split="pool", run_id="r", taxonomy=Taxonomy((), {}),
        media_prefix=str(tmp_path / "media"), s3=S3Settings(),
    )  # fmt: skip
    items = [SourceItem(str(tmp_path / name), name, name) for name in sorted(expected)]
    result: list[object] = []
    worker = threading.Thread(
        target=lambda: result.append(inspect_items(items, config)), daemon=True
    )
    worker.start()
    worker.join(timeout=30)  # reading the pipe would block here forever
    sock.close()
    assert result, "inspect_items blocked on an entry it should not have opened"
    samples, quarantine = result[0]  # type: ignore[misc]
    assert samples.num_rows == 0
    got = dict(
        zip(quarantine["source_ref"].to_pylist(), quarantine["reason"].to_pylist(), strict=True)
    )
    assert got == expected


@pytest.mark.usefixtures("ray_cluster")
def test_every_entry_is_a_sample_or_a_quarantine_row_with_its_reason(
    settings: Settings, tmp_path: Path
) -> None:
    src, elsewhere = tmp_path / "src", tmp_path / "farm"
    src.mkdir()
    elsewhere.mkdir()
    (src / "ok.png").write_bytes(_png(1))
    (elsewhere / "linked.png").write_bytes(_png(2))
    (src / "linked.png").symlink_to(elsewhere / "linked.png")  # a symlink farm: followed
    (src / "dir-link").symlink_to(elsewhere, target_is_directory=True)  # not descended
    (src / "big.png").write_bytes(_png(3) + b"\0" * (2 << 20))  # over a 1 MiB cap
    expected = _special_entries(src)
    lines = [
        {"path": "ok.png", "tags": ["#one"]},
        {"path": "ok.png", "tags": ["#two"]},  # conflicts with the line above
        {"path": "ok.png", "tags": ["#one"]},  # repeats it: nothing new, nothing lost
    ]
    (src / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text("classes:\n  one: ['#one']\n  two: ['#two']\n")
    config = IngestConfig(
        source=str(src), taxonomy=taxonomy, progress=False, workers=1, max_file_bytes=1 << 20
    )
    first = ingest(settings, config)
    expected |= {"big.png": "too_large", "dir-link": "linked_directory"}
    want = [*expected.values(), "conflicting_manifest_line"]
    assert sorted(first.quarantined.elements()) == sorted(want)
    lake = Lake(settings)
    samples = {r["source_ref"]: r for r in lake.read("samples").to_pylist()}
    assert sorted(samples) == ["linked.png", "ok.png"] and samples["ok.png"]["weak_label"] == "one"
    rows = lake.read("quarantine").to_pylist()
    by_ref = {
        r["source_ref"]: r["reason"] for r in rows if not r["source_ref"].startswith("manifest:")
    }
    assert by_ref == expected
    assert [r["source_ref"] for r in rows if r["reason"] == "conflicting_manifest_line"] == [
        "manifest:2"
    ]
    again = ingest(settings, config)  # a re-run records nothing twice
    assert again.new == 0 and again.quarantine_new == 0


def test_an_s3_object_over_the_cap_is_quarantined_by_its_listed_size(
    s3, s3_bucket: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import boto3

    from flywheel.ingest.sources import list_source

    client = boto3.client("s3", **s3.client_kwargs())
    client.put_object(Bucket=s3_bucket, Key="caps/small.png", Body=_png(4))
    client.put_object(Bucket=s3_bucket, Key="caps/big.png", Body=_png(5) + b"\0" * (2 << 20))
    s3_settings = S3Settings(
        endpoint=s3.endpoint, region=s3.region,
        access_key_id=s3.access_key_id, secret_access_key=s3.secret_access_key,
    )  # fmt: skip
    listing = list_source(f"s3://{s3_bucket}/caps", s3_settings)
    config = InspectConfig(
        source=listing.source, split="pool", run_id="r", taxonomy=Taxonomy((), {}),
        media_prefix=str(tmp_path / "media"), s3=s3_settings, max_file_bytes=1 << 20,
    )  # fmt: skip
    samples, quarantine = inspect_items(listing.items, config)
    assert samples["source_ref"].to_pylist() == ["small.png"]
    assert quarantine.select(["source_ref", "reason"]).to_pylist() == [
        {"source_ref": "big.png", "reason": "too_large"}
    ]
