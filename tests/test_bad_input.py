"""Bad input: one clear line on stderr, a non-zero exit, and the tables untouched.

Each case runs the real CLI in a subprocess against a data root that already holds
ingested data, and compares every table's snapshot and rows before and after.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.lake import Lake


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def _state(root: Path) -> dict[str, tuple[int | None, int]]:
    lake = Lake(Settings.from_env(root=root, environ={}))
    return {
        name: (lake.current_snapshot_id(name), lake.read(name).num_rows)
        for name in ("samples", "quarantine")
    }


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("flywheel: error: ") and text in lines[0], lines[0]


def _bad_yaml(tmp: Path) -> Path:
    p = tmp / "bad.yaml"
    p.write_text("classes: {cat: [#cat\n")
    return p


def _wrong_format(tmp: Path) -> Path:
    p = tmp / "wrong.yaml"
    p.write_text("- cat\n- dog\n")
    return p


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("missing_source", "does not exist"),
        ("invalid_yaml", "is not valid YAML"),
        ("wrong_format", "no `classes` mapping"),
        ("missing_taxonomy", "does not exist"),
        ("unknown_split", "Invalid value for '--split'"),
    ],
)
def test_bad_input_leaves_tables_untouched(
    case: str,
    expect: str,
    filled_root: Path,
    digits_folder,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    source, taxonomy, extra = str(digits_folder.root), str(digits_folder.taxonomy), []
    if case == "missing_source":
        source = str(tmp_path / "no-such-folder")
    elif case == "invalid_yaml":
        taxonomy = str(_bad_yaml(tmp_path))
    elif case == "wrong_format":
        taxonomy = str(_wrong_format(tmp_path))
    elif case == "missing_taxonomy":
        taxonomy = str(tmp_path / "none.yaml")
    elif case == "unknown_split":
        extra = ["--split", "train"]
    before = _state(filled_root)
    proc = _run(["--root", str(filled_root), "ingest", source, "--taxonomy", taxonomy, *extra])
    _assert_one_line_error(proc, expect)
    assert _state(filled_root) == before


def test_unreachable_s3_source(filled_root: Path, digits_folder) -> None:  # type: ignore[no-untyped-def]
    before = _state(filled_root)
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{_closed_port()}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    proc = _run(
        [
            "--root",
            str(filled_root),
            "ingest",
            "s3://bucket/photos/",
            "--taxonomy",
            str(digits_folder.taxonomy),
        ],
        env,
    )
    _assert_one_line_error(proc, "cannot reach S3 endpoint")
    assert _state(filled_root) == before


def test_unreachable_s3_warehouse(tmp_path: Path, digits_folder) -> None:  # type: ignore[no-untyped-def]
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{_closed_port()}",
        "FLYWHEEL_WAREHOUSE": "s3://lake/flywheel",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    proc = _run(
        [
            "--root",
            str(tmp_path / "r"),
            "ingest",
            str(digits_folder.root),
            "--taxonomy",
            str(digits_folder.taxonomy),
        ],
        env,
    )
    _assert_one_line_error(proc, "cannot reach S3 endpoint")


def test_unwritable_root(tmp_path: Path, digits_folder) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = _run(
        [
            "--root",
            str(blocker / "root"),
            "ingest",
            str(digits_folder.root),
            "--taxonomy",
            str(digits_folder.taxonomy),
        ]
    )
    _assert_one_line_error(proc, "is not writable")


def test_sql_write_statement_is_refused(filled_root: Path) -> None:
    before = _state(filled_root)
    proc = _run(["--root", str(filled_root), "sql", "DELETE FROM samples"])
    _assert_one_line_error(proc, "read-only")
    proc = _run(["--root", str(filled_root), "sql", "CREATE TABLE x AS SELECT 1"])
    _assert_one_line_error(proc, "read-only")
    assert _state(filled_root) == before


def test_sql_syntax_error_is_one_line(filled_root: Path) -> None:
    proc = _run(["--root", str(filled_root), "sql", "SELEC oops"])
    _assert_one_line_error(proc, "syntax error")


def test_sql_formats(filled_root: Path, digits_folder) -> None:  # type: ignore[no-untyped-def]
    import json

    q = "select split, count(*) as n from samples group by split"
    proc = _run(["--root", str(filled_root), "sql", q, "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"split": "pool", "n": digits_folder.expected_new_samples}]
    proc = _run(["--root", str(filled_root), "sql", q, "--format", "csv"])
    assert proc.stdout.splitlines() == [
        '"split","n"',
        f'"pool",{digits_folder.expected_new_samples}',
    ]
    proc = _run(["--root", str(filled_root), "sql", q])
    assert "pool" in proc.stdout and "(1 row)" in proc.stdout
