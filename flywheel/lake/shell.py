"""An init script that opens the lake's tables in a plain DuckDB shell.

DuckDB reads Iceberg natively with its ``iceberg`` extension. The script names its
extensions (``INSTALL iceberg; LOAD iceberg;``), so it runs from any DuckDB of the pinned
version: on this machine ``flywheel duckdb-init`` first copies the extension files that
ship in PyPI packages into DuckDB's own extension directory (``~/.duckdb/extensions``),
where ``INSTALL`` finds them without a download; elsewhere DuckDB fetches them from its
extension repository. One view per table, empty tables included, over the table's
current metadata file. See docs/decisions/duckdb-init-portable.md.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import urlparse

import duckdb

from flywheel.errors import StorageError
from flywheel.lake.lake import Lake
from flywheel.lake.schema import TABLE_SCHEMAS


def _extension_file(name: str) -> Path:
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise StorageError(
            f"the DuckDB {name} extension is not installed (pip install duckdb-extension-{name})"
        ) from None
    found = sorted(Path(module.__file__ or "").parent.rglob(f"{name}.duckdb_extension"))
    if not found:
        raise StorageError(f"the duckdb-extension-{name} package holds no extension file")
    return found[-1]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def install_extensions(names: list[str]) -> None:
    """Copy the extensions shipped in PyPI packages into DuckDB's extension directory,
    so that ``INSTALL name`` in any DuckDB of this version finds them offline."""
    con = duckdb.connect(":memory:")
    try:
        for name in names:
            con.execute(f"INSTALL {_sql_string(str(_extension_file(name)))}")
    except duckdb.Error as err:
        raise StorageError(f"cannot install the DuckDB {name} extension: {err}") from None
    finally:
        con.close()


def duckdb_init_script(lake: Lake) -> str:
    """SQL for ``duckdb -init FILE``: extensions, S3 access if needed, one view a table."""
    lines = ["-- flywheel lake views at the current snapshots; regenerate after new commits."]
    exts = ["avro", "iceberg"] + (["httpfs"] if lake.settings.warehouse_is_s3 else [])
    install_extensions(exts)
    lines += [f"INSTALL {ext};" for ext in exts]
    lines += [f"LOAD {ext};" for ext in exts]
    if lake.settings.warehouse_is_s3:
        lines.append(_s3_secret(lake))
    for name in TABLE_SCHEMAS:  # every table: an empty one is a view with no rows
        location = lake.table(name).metadata_location
        lines.append(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM iceberg_scan({_sql_string(location)});"
        )
    return "\n".join(lines) + "\n"


def _s3_secret(lake: Lake) -> str:
    s3 = lake.settings.s3
    parts = ["TYPE s3", f"REGION {_sql_string(s3.region)}"]
    if s3.access_key_id:
        parts += [
            f"KEY_ID {_sql_string(s3.access_key_id)}",
            f"SECRET {_sql_string(s3.secret_access_key or '')}",
        ]
    if s3.endpoint:
        endpoint = urlparse(s3.endpoint)
        parts += [
            f"ENDPOINT {_sql_string(endpoint.netloc)}",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'}",
        ]
    return "CREATE OR REPLACE SECRET flywheel_lake (" + ", ".join(parts) + ");"
