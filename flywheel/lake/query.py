"""Read-only DuckDB SQL over every lake table at its current (or a given) snapshot.

Each table's snapshot is registered as a lazy Arrow dataset over its Parquet files,
so DuckDB pushes projections and filters down and nothing is copied up front.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from flywheel.config import Settings
from flywheel.errors import QueryError
from flywheel.lake.lake import Lake
from flywheel.lake.schema import TABLE_SCHEMAS
from flywheel.lake.storage import filesystem

# Statement kinds that cannot change anything.
_READ_ONLY = {"SELECT", "EXPLAIN"}


def sql(
    query: str,
    settings: Settings | None = None,
    snapshot_ids: Mapping[str, int | None] | None = None,
) -> pa.Table:
    """Run one read-only SQL statement over the lake; returns Arrow.

    ``snapshot_ids`` pins tables to snapshots (``flywheel sql --as-of``); a table pinned
    to None had no snapshot then and reads empty; other tables are read at their current
    snapshot.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     settings = Settings.from_env(root=root, environ={})
    ...     sql("select count(*) as n from samples", settings).column("n")[0].as_py()
    0
    """
    settings = settings or Settings.from_env()
    statement = _check_read_only(query)
    lake = Lake(settings)
    con = duckdb.connect(":memory:")
    try:
        pinned = snapshot_ids or {}
        for name in TABLE_SCHEMAS:
            if name in pinned and pinned[name] is None:  # empty when it was pinned
                con.register(name, TABLE_SCHEMAS[name].empty_table())
                continue
            con.register(name, _table_dataset(lake, name, pinned.get(name)))
        # Registered datasets are read by Arrow; DuckDB itself needs no file access.
        con.execute("SET enable_external_access = false")
        try:
            return con.execute(statement).to_arrow_table()
        except duckdb.Error as err:
            raise QueryError(_first_line(err)) from None
    finally:
        con.close()


def _check_read_only(query: str) -> str:
    con = duckdb.connect(":memory:")
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as err:
        raise QueryError(_first_line(err)) from None
    finally:
        con.close()
    if len(statements) != 1:
        raise QueryError(f"give exactly one SQL statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in _READ_ONLY:
        raise QueryError(
            f"the lake is read-only through SQL: {kind} statements are not allowed "
            "(flywheel commands write the tables)"
        )
    return query


def _table_dataset(lake: Lake, name: str, snapshot_id: int | None) -> ds.Dataset | pa.Table:
    files = lake.data_files(name, snapshot_id)
    if files is None:  # delete files present: let pyiceberg apply them
        return lake.read(name, snapshot_id=snapshot_id)
    schema = lake.table(name).schema().as_arrow()
    if not files:
        return schema.empty_table()
    fs, _ = filesystem(files[0], lake.settings.s3)
    paths = [filesystem(f, lake.settings.s3)[1] for f in files]
    return ds.dataset(paths, schema=schema, format="parquet", filesystem=fs)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
