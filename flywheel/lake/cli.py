"""``flywheel sql`` and ``flywheel tables``."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime

import click
import pyarrow as pa
import pyarrow.csv as pacsv

from flywheel.clikit import format_option, needs_lake, printable
from flywheel.config import Settings
from flywheel.errors import ConfigError, NotFoundError
from flywheel.lake.filters import equal
from flywheel.lake.lake import Lake
from flywheel.lake.query import sql as run_sql


@click.command()
@click.argument("query")
@format_option
@click.option(
    "--max-rows",
    type=int,
    default=100,
    show_default=True,
    help="Rows shown by --format table (csv and json print all).",
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="VERSION|TIME",
    help="Time travel. VERSION (m0003): samples, labels and models as that model was "
    "trained on them, other tables current. TIME (ISO 8601: 2026-12-07T10:00:00Z, or a "
    "date, meaning its midnight UTC): every table as it was then.",
)
@click.pass_obj
@needs_lake
def sql(settings: Settings, query: str, fmt: str, max_rows: int, as_of: str | None) -> None:
    """Run a read-only DuckDB QUERY over every lake table at its current snapshot.

    --format table is for a terminal: control characters in values (newlines, escape
    codes, bidi overrides) are shown escaped. csv and json print values exactly, for
    programs and pipes."""
    pinned = _as_of_snapshots(settings, as_of) if as_of else None
    result = run_sql(query, settings, snapshot_ids=pinned)
    if fmt == "csv":
        pacsv.write_csv(_flat(_printable(result)), sys.stdout.buffer)
    elif fmt == "json":
        click.echo(json.dumps(_printable(result).to_pylist(), default=str, indent=1))
    else:
        click.echo(format_table(result, max_rows))
    click.echo(f"({result.num_rows} row{'s' if result.num_rows != 1 else ''})", err=fmt != "table")


def _as_of_snapshots(settings: Settings, as_of: str) -> dict[str, int | None]:
    """The {table: snapshot id} that ``--as-of`` names: a model version's or a time's."""
    if re.fullmatch(r"m\d+", as_of):
        return _model_snapshots(settings, as_of)
    return _time_snapshots(settings, _parse_time(as_of))


def _parse_time(text: str) -> datetime:
    """An ISO 8601 time (UTC when it names no offset) or date (its midnight UTC)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--as-of {text!r} is neither a model version such as m0003 nor an ISO 8601 "
            "time such as 2026-12-07T10:00:00Z or 2026-12-07"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _time_snapshots(settings: Settings, when: datetime) -> dict[str, int | None]:
    """The {table: snapshot id} current at ``when``, every table."""
    pinned = Lake(settings).snapshot_ids_at(when)
    shown = ", ".join(f"{k}@{v if v is not None else 'empty'}" for k, v in sorted(pinned.items()))
    click.echo(f"as of {when.isoformat()}: {shown}", err=True)
    return pinned


def _model_snapshots(settings: Settings, version: str) -> dict[str, int | None]:
    """The {table: snapshot id} that model ``version`` recorded when it was trained."""
    rows = Lake(settings).read("models", ["snapshot_ids"], row_filter=equal(version=version))
    if rows.num_rows == 0:
        raise NotFoundError(
            f"model version {version!r} does not exist; `flywheel models` lists them"
        )
    pinned: dict[str, int | None] = json.loads(rows["snapshot_ids"][0].as_py())
    shown = ", ".join(f"{k}@{v}" for k, v in sorted(pinned.items()))
    click.echo(f"as of {version}: {shown}; other tables current", err=True)
    return pinned


@click.command()
@click.pass_obj
@needs_lake
def tables(settings: Settings) -> None:
    """List the lake's tables: rows, current snapshot, and the Iceberg metadata file
    (what a plain DuckDB shell opens with iceberg_scan)."""
    lake = Lake(settings)
    names = lake.existing_tables()
    if not names:
        click.echo(f"no tables yet at {settings.root}: `flywheel ingest` makes them")
    for name in names:
        table = lake.table(name)
        snap = table.current_snapshot()
        rows = snap.summary["total-records"] if snap and snap.summary else "0"
        click.echo(
            f"{name}\trows={rows}\tsnapshot={snap.snapshot_id if snap else '-'}"
            f"\tmetadata={table.metadata_location}"
        )


def _printable(table: pa.Table) -> pa.Table:
    """Binary columns (media) shown as their length, so output stays text."""
    cols = []
    for col in table.columns:
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            cols.append(pa.compute.binary_length(col).cast(pa.string()))
            cols[-1] = pa.compute.binary_join_element_wise(cols[-1], pa.scalar(" bytes"), "")
        else:
            cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


def _flat(table: pa.Table) -> pa.Table:
    """Nested columns (lists, structs, maps: a selection's top-k, a label's votes) as one
    JSON text per value, which CSV has no type for."""
    cols = []
    for col in table.columns:
        if pa.types.is_nested(col.type):
            values = [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()]
            cols.append(pa.array(values, pa.string()))
        else:
            cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


# Widest column of a --format table; longer values are cut, and the table says so.
MAX_WIDTH = 60


def format_table(table: pa.Table, max_rows: int) -> str:
    """A plain aligned text table (no colours, safe for pipes and logs): control and
    format characters in names and values are escaped, so a value cannot forge lines or
    recolour the terminal."""
    shown = _printable(table.slice(0, max_rows))
    header = [printable(h, limit=None) for h in shown.column_names]
    rows = [
        ["" if v is None else printable(str(v), limit=None) for v in row.values()]
        for row in shown.to_pylist()
    ]
    widths = [
        min(MAX_WIDTH, max([len(h)] + [len(r[i]) for r in rows])) for i, h in enumerate(header)
    ]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    if any(len(c) > MAX_WIDTH for r in rows for c in r):
        lines.append(
            f"(values longer than {MAX_WIDTH} characters are cut; --format csv or json "
            "prints them whole)"
        )
    if table.num_rows > max_rows:
        lines.append(f"... {table.num_rows - max_rows} more rows (use --max-rows or --format csv)")
    return "\n".join(lines)


@click.command("duckdb-init")
@click.pass_obj
@needs_lake
def duckdb_init(settings: Settings) -> None:
    """Print a DuckDB init script that opens every table in a plain DuckDB shell:

    flywheel duckdb-init > lake.sql && duckdb -init lake.sql
    """
    from flywheel.lake.shell import duckdb_init_script

    click.echo(duckdb_init_script(Lake(settings)), nl=False)
