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


def _list_within(source: str, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """list_source in a thread, so a manifest that blocks (a pipe) fails the test
    instead of hanging it. Returns the listing or the error raised."""
    import threading

    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(list_source(source, S3Settings()))
        except Exception as err:  # handed back to the test
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"listing {source} did not return within {seconds:g}s"
    return outcome[0]


@pytest.mark.parametrize(
    ("kind", "says"),
    [("named pipe", "a named pipe"), ("device", "a device"), ("broken link", "does not exist")],
)
def test_a_manifest_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, kind: str, says: str
) -> None:
    (tmp_path / "x.png").write_bytes(b"x")
    manifest = tmp_path / "manifest.jsonl"
    if kind == "named pipe":
        os.mkfifo(manifest)
    elif kind == "device":
        manifest.symlink_to("/dev/zero")  # read whole, it would never end
    else:
        manifest.symlink_to(tmp_path / "gone.jsonl")
    for source in (tmp_path, manifest):  # in a folder, and named as the source itself
        err = _list_within(str(source))
        assert isinstance(err, SourceError), err
        assert str(err).startswith(f"manifest {manifest} is not read: ")
        assert says in str(err) and "\n" not in str(err)


def test_a_manifest_line_over_the_bound_is_an_error_naming_it(tmp_path: Path) -> None:
    from flywheel.ingest.sources import MAX_MANIFEST_LINE

    (tmp_path / "x.png").write_bytes(b"x")
    manifest = tmp_path / "manifest.jsonl"
    good = json.dumps({"path": "x.png"}) + "\n"
    manifest.write_text(good + "\n" + json.dumps({"path": "x" * MAX_MANIFEST_LINE}) + "\n")
    for source in (tmp_path, manifest):
        with pytest.raises(SourceError, match=r"jsonl: line 3 is longer than 1048576 bytes"):
            list_source(str(source), S3Settings())
    manifest.write_text(good + "y" * (MAX_MANIFEST_LINE + 1))  # the last line, no newline
    with pytest.raises(SourceError, match="line 2 is longer"):
        list_source(str(manifest), S3Settings())
    manifest.write_text(good + "y" * MAX_MANIFEST_LINE)  # at the bound: a bad line, no more
    assert [p.line_no for p in list_source(str(manifest), S3Settings()).problems] == [2]


def test_a_manifest_is_read_line_by_line_not_whole(tmp_path: Path) -> None:
    """A 24 MB manifest (one entry repeated) is listed with a few MB of memory at most:
    its body is never held whole (reading it whole took twice its size)."""
    import tracemalloc

    (tmp_path / "x.png").write_bytes(b"x")
    line = json.dumps({"path": "x.png", "tags": ["#cat"], "note": "n" * 1000}) + "\r\n"
    manifest = tmp_path / "manifest.jsonl"
    with manifest.open("w", newline="") as f:
        f.writelines(line for _ in range(24_000))
    assert manifest.stat().st_size > 24_000_000
    tracemalloc.start()
    try:
        listing = list_source(str(tmp_path), S3Settings())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(i.rel_path, i.tags) for i in listing.items] == [("x.png", ("#cat",))]
    assert listing.problems == []  # an identical repeat adds nothing
    assert peak < 4_000_000, f"peak {peak} bytes"


def test_an_s3_manifest_is_streamed_and_its_lines_bounded(s3, s3_bucket: str) -> None:  # type: ignore[no-untyped-def]
    import boto3

    from flywheel.ingest.sources import MAX_MANIFEST_LINE

    client = boto3.client("s3", **s3.client_kwargs())
    client.put_object(Bucket=s3_bucket, Key="long/a.png", Body=b"a")
    body = json.dumps({"path": "a.png"}) + "\n" + "z" * (MAX_MANIFEST_LINE + 1) + "\n"
    client.put_object(Bucket=s3_bucket, Key="long/manifest.jsonl", Body=body.encode())
    with pytest.raises(SourceError, match=r"manifest s3://.*/long/manifest.jsonl: line 2 is"):
        list_source(f"s3://{s3_bucket}/long", _s3_settings(s3))
