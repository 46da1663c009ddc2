"""The lake itself: snapshots, the all-or-nothing multi-table commit, the schema files."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

import flywheel
from flywheel.config import Settings
from flywheel.errors import ConfigError, NotFoundError, QueryError
from flywheel.lake import Lake
from flywheel.lake.commit import Build, Change
from flywheel.lake.schema import QUARANTINE, TABLE_SCHEMAS, schema_document

REPO = Path(__file__).resolve().parents[2]


def _quarantine_rows(n: int, reason: str = "undecodable") -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {
            "content_hash": f"{i:064x}",
            "reason": reason,
            "detail": "d",
            "modality": None,
            "mime": None,
            "source": "s",
            "source_ref": f"r{i}",
            "source_path": f"p{i}",
            "ingest_run": "run",
            "quarantined_at": now,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE)


def test_root_and_tables_are_created_on_first_use(tmp_path: Path) -> None:
    settings = Settings.from_env(root=tmp_path / "new" / "root", environ={})
    assert Lake(settings).read("samples").num_rows == 0
    assert (tmp_path / "new" / "root" / "catalog.db").is_file()


def test_each_commit_is_a_snapshot_that_can_be_read_back(settings: Settings) -> None:
    lake = Lake(settings)
    first = lake.commit("quarantine", _quarantine_rows(2), {"flywheel.run": "a"})
    second = lake.commit("quarantine", _quarantine_rows(3), {"flywheel.run": "b"})
    assert first and second and first != second
    assert lake.read("quarantine", snapshot_id=first).num_rows == 2
    assert lake.read("quarantine").num_rows == 5
    assert lake.snapshot_properties("quarantine")["flywheel.run"] == "b"
    as_of = flywheel.sql("select count(*) as n from quarantine", settings, {"quarantine": first})
    assert as_of.column("n")[0].as_py() == 2
    # Pinned to None: the table had no snapshot then, so it reads empty (not current).
    before = flywheel.sql("select count(*) as n from quarantine", settings, {"quarantine": None})
    assert before.column("n")[0].as_py() == 0


def test_a_failed_second_commit_rolls_the_first_back(settings: Settings) -> None:
    lake = Lake(settings)
    lake.commit("quarantine", _quarantine_rows(1), {})
    before = lake.snapshot_ids()
    # Rows that do not fit the samples schema make the second commit fail for real.
    bad = pa.table({"nonsense": [1, 2]})
    with pytest.raises((ValueError, pa.ArrowInvalid, KeyError)):
        lake.commit_all([("quarantine", _rows(_quarantine_rows(4))), ("samples", _rows(bad))])
    assert lake.read("quarantine").num_rows == 1
    assert lake.snapshot_ids() == before


def test_rollback_of_a_table_that_had_no_snapshot_empties_it(settings: Settings) -> None:
    lake = Lake(settings)
    with pytest.raises((ValueError, pa.ArrowInvalid, KeyError)):
        lake.commit_all(
            [("quarantine", _rows(_quarantine_rows(4))), ("samples", _rows(pa.table({"x": [1]})))]
        )
    assert lake.read("quarantine").num_rows == 0


def _rows(data: pa.Table) -> Build:
    """A writer that appends ``data`` whatever the table holds."""
    return lambda _head: Change(append=data)


def test_unknown_table(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="unknown table 'nope'; tables: "):
        Lake(settings).read("nope")


def test_sql_refuses_more_than_one_statement(settings: Settings) -> None:
    with pytest.raises(QueryError, match="exactly one SQL statement"):
        flywheel.sql("select 1; select 2", settings)


HOSTILE = "ann\n  vendor boss: gold 99/99\x1b[31m\u202e"
HOSTILE_SQL = (
    "select 'ann' || chr(10) || '  vendor boss: gold 99/99' || chr(27) || '[31m' || chr(8238)"
    " as annotator"
)


def test_sql_table_shows_control_characters_escaped_and_csv_json_exact(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from flywheel.cli import main

    Lake(settings).table("samples")  # a lake, empty
    root = ["--root", str(settings.root)]
    assert main([*root, "sql", HOSTILE_SQL]) == 0
    out = capsys.readouterr().out
    assert "ann\\n  vendor boss: gold 99/99\\x1b[31m\\u202e" in out
    assert "\x1b" not in out and "\u202e" not in out
    assert not any(line.lstrip().startswith("vendor boss") for line in out.splitlines())
    assert main([*root, "sql", HOSTILE_SQL, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"annotator": HOSTILE}]  # data, exact
    assert main([*root, "sql", HOSTILE_SQL, "--format", "csv"]) == 0
    assert capsys.readouterr().out == f'"annotator"\n"{HOSTILE}"\n'


def test_sql_csv_writes_nested_values_as_json(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A selection's top-k (a list of structs) or a label's votes (a map) have no CSV
    type: each value is one JSON text, where pyarrow's CSV writer would fail."""
    from flywheel.cli import main

    Lake(settings).table("samples")
    query = (
        "select [{'label': 'cat', 'prob': 0.5::double}] as top_k, map(['cat'], [2]) as votes, "
        "[1, 2] as ids, 'x' as name"
    )
    assert main(["--root", str(settings.root), "sql", query, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == '"top_k","votes","ids","name"'
    row = next(csv.reader(lines[1:]))
    assert json.loads(row[0]) == [{"label": "cat", "prob": 0.5}]
    assert json.loads(row[1]) in ([["cat", 2]], [{"key": "cat", "value": 2}], {"cat": 2})
    assert json.loads(row[2]) == [1, 2] and row[3] == "x"


def test_settings_reject_unknown_schemes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file:// or s3://"):
        Settings.from_env(root=tmp_path, environ={"FLYWHEEL_WAREHOUSE": "gs://bucket/x"})
    with pytest.raises(ConfigError, match="not SQLite or PostgreSQL"):
        Settings.from_env(root=tmp_path, environ={"FLYWHEEL_CATALOG_URI": "mysql://x"})


def test_settings_read_the_environment_once(tmp_path: Path) -> None:
    env = {
        "FLYWHEEL_ROOT": str(tmp_path),
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
        "FLYWHEEL_WAREHOUSE": "s3://b/p",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    s = Settings.from_env(environ=env)
    assert s.root == tmp_path and s.warehouse_is_s3
    assert s.s3.pyiceberg_properties()["s3.endpoint"] == "http://127.0.0.1:9000"
    assert s.catalog_uri == f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.mark.parametrize("name", sorted(TABLE_SCHEMAS))
def test_schema_files_match_the_code(name: str) -> None:
    doc = json.loads((REPO / "schemas" / f"{name}.json").read_text())
    assert doc == schema_document(name), "schemas/ is stale: run scripts/write-schemas"
    assert doc["kind"] in ("state", "event")
    assert set(doc["key"]) <= set(TABLE_SCHEMAS[name].names)


def test_issue_contract_columns_exist() -> None:
    samples = set(TABLE_SCHEMAS["samples"].names)
    assert {
        "sample_id",
        "modality",
        "mime",
        "source",
        "source_ref",
        "tags",
        "weak_label",
        "weak_label_rule",
        "split",
        "ingested_at",
    } <= samples
    assert {"reason", "source_ref", "content_hash"} <= set(TABLE_SCHEMAS["quarantine"].names)


def test_row_filters_take_values_as_values(settings: Settings) -> None:
    """Filters are pyiceberg expressions: a value with quotes in it matches itself, not
    a longer condition (as text, "r1' or source_ref == 'r2" would have read two rows)."""
    from flywheel.lake.filters import among, equal

    lake = Lake(settings)
    rows = _quarantine_rows(3).to_pylist()
    rows[0]["source_ref"] = "r1' or source_ref == 'r2"
    lake.commit("quarantine", pa.Table.from_pylist(rows, schema=QUARANTINE), {})
    hostile = lake.read(
        "quarantine", ["source_ref"], row_filter=equal(source_ref=rows[0]["source_ref"])
    )
    assert hostile.column("source_ref").to_pylist() == [rows[0]["source_ref"]]
    both = lake.read(
        "quarantine", ["source_ref"], row_filter=equal(reason="undecodable", source_ref="r2")
    )
    assert both.column("source_ref").to_pylist() == ["r2"]
    some = lake.read("quarantine", ["source_ref"], row_filter=among("source_ref", ["r1", "r2"]))
    assert sorted(some.column("source_ref").to_pylist()) == ["r1", "r2"]
    assert lake.read("quarantine", row_filter=among("source_ref", [])).num_rows == 0
    assert lake.read("quarantine", row_filter=equal()).num_rows == 3


_OPEN = """
import sys, time
from flywheel.config import Settings
from flywheel.lake import Lake
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
Lake(Settings.from_env(root=sys.argv[1], environ={})).table("samples")
"""


def test_processes_opening_a_new_lake_at_once_all_succeed(tmp_path: Path) -> None:
    """Eight processes make the same new SQLite catalog at the same instant: the losers
    of the create-tables race (UNIQUE constraint, database locked) try again and find
    the winner's catalog, none fails."""
    import subprocess
    import sys
    import time

    root, start = tmp_path / "root", time.time() + 4.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN, str(root), str(start)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [e for e in errors if e][:1]
    assert Lake(Settings.from_env(root=root, environ={})).read("samples").num_rows == 0
