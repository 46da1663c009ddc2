import json
import os
from pathlib import Path

import pytest

from flywheel.config import S3Settings
from flywheel.errors import SourceError
from flywheel.ingest.sources import list_source


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "y.wav").write_bytes(b"y")
    (tmp_path / "notes.md").write_text("hello")
    lines = [
        json.dumps({"path": "a/x.png", "tags": ["#cat"], "source_ref": "ig-1"}),
        "{not json",
        json.dumps({"path": "gone.png", "tags": []}),
        json.dumps({"path": "../escape.png"}),
        "",
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_folder_walks_recursively_and_applies_manifest(tmp_path: Path) -> None:
    listing = list_source(str(_folder(tmp_path)), S3Settings())
    items = {i.rel_path: i for i in listing.items}
    assert set(items) == {"a/x.png", "y.wav"}
    assert items["a/x.png"].tags == ("#cat",) and items["a/x.png"].source_ref == "ig-1"
    # A file with no manifest line has no tags and its path as source_ref.
    assert items["y.wav"].tags == () and items["y.wav"].source_ref == "y.wav"
    assert listing.sidecars == 2  # manifest.jsonl and notes.md


def test_bad_manifest_lines_are_reported_not_dropped(tmp_path: Path) -> None:
    listing = list_source(str(_folder(tmp_path)), S3Settings())
    problems = sorted((p.line_no, p.reason) for p in listing.problems)
    assert problems == [(2, "bad_manifest_line"), (3, "missing_file"), (4, "bad_manifest_line")]


def test_manifest_file_source_lists_only_its_lines(tmp_path: Path) -> None:
    listing = list_source(str(_folder(tmp_path) / "manifest.jsonl"), S3Settings())
    assert [i.rel_path for i in listing.items] == ["a/x.png"]


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        list_source(str(tmp_path / "nothing"), S3Settings())


def test_a_manifest_source_names_entries_without_walking_the_tree(tmp_path: Path) -> None:
    from flywheel.ingest.sources import entry_problem

    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    manifest = tmp_path / "list.jsonl"
    lines = [{"path": p} for p in ("a.png", "folder", "pipe.png", "gone.png")]
    lines.append({"path": "a.png", "source_ref": "other"})  # conflicts with line 1
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    listing = list_source(str(manifest), S3Settings())
    assert [i.rel_path for i in listing.items] == ["a.png", "folder", "pipe.png"]
    assert [(p.line_no, p.reason) for p in listing.problems] == [
        (4, "missing_file"), (5, "conflicting_manifest_line"),
    ]  # fmt: skip
    reasons = [entry_problem(i.uri, 1 << 20) for i in listing.items]
    assert [r and r[0] for r in reasons] == [None, "directory", "named_pipe"]


def _s3_settings(s3) -> S3Settings:  # type: ignore[no-untyped-def]
    return S3Settings(
        endpoint=s3.endpoint, region=s3.region,
        access_key_id=s3.access_key_id, secret_access_key=s3.secret_access_key,
    )  # fmt: skip


def test_an_s3_prefix_is_listed_a_page_at_a_time_as_items_are_taken(s3, s3_bucket: str) -> None:  # type: ignore[no-untyped-def]
    """The listing reads pages only as its items are iterated: a key written after the
    first page was read, but sorting after it, is still listed (a listing gathered whole
    up front would have missed it). The manifest's problems come at the end."""
    import boto3

    client = boto3.client("s3", **s3.client_kwargs())
    for i in range(7):
        client.put_object(Bucket=s3_bucket, Key=f"many/{i:02d}.png", Body=bytes([i]))
    lines = [
        json.dumps({"path": "03.png", "tags": ["#cat"], "source_ref": "ig-3"}),
        json.dumps({"path": "gone.png"}),
        json.dumps({"path": "03.png", "tags": ["#dog"]}),
    ]
    client.put_object(Bucket=s3_bucket, Key="many/manifest.jsonl", Body="\n".join(lines).encode())
    listing = list_source(f"s3://{s3_bucket}/many", _s3_settings(s3), page_size=2)
    items = iter(listing.items)
    first = next(items)
    client.put_object(Bucket=s3_bucket, Key="many/zz-late.png", Body=b"late")
    rest = list(items)
    assert [first.rel_path, *(i.rel_path for i in rest)] == [
        *(f"{i:02d}.png" for i in range(7)), "zz-late.png"
    ]  # fmt: skip
    tagged = next(i for i in rest if i.rel_path == "03.png")
    assert (tagged.source_ref, tagged.tags, tagged.size) == ("ig-3", ("#cat",), 1)
    assert listing.sidecars == 1  # the manifest
    assert [(p.line_no, p.reason) for p in listing.problems] == [
        (2, "missing_file"), (3, "conflicting_manifest_line")
    ]  # fmt: skip


def test_an_empty_s3_prefix_fails_before_any_item(s3, s3_bucket: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceError, match="holds no objects"):
        list_source(f"s3://{s3_bucket}/nothing", _s3_settings(s3), page_size=2)
