"""An init script that opens the lake's tables in a plain DuckDB shell.

DuckDB reads Iceberg natively with its ``iceberg`` extension; the extension files ship
in PyPI packages (no download at run time), so the script installs them from disk and
defines one view per table over the table's current metadata file.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import urlparse

from flywheel.errors import StorageError
from flywheel.lake.lake import Lake


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


def duckdb_init_script(lake: Lake) -> str:
    """SQL for ``duckdb -init FILE``: extensions, S3 access if needed, one view a table."""
    lines = ["-- flywheel lake views at the current snapshots; regenerate after new commits."]
    exts = ["avro", "iceberg"] + (["httpfs"] if lake.settings.warehouse_is_s3 else [])
    for ext in exts:
        lines.append(f"INSTALL {_sql_string(str(_extension_file(ext)))};")
    lines.append("LOAD iceberg;")
    if lake.settings.warehouse_is_s3:
        lines.append("LOAD httpfs;")
        lines.append(_s3_secret(lake))
    for name in lake.existing_tables():
        table = lake.table(name)
        if table.current_snapshot() is None:
            lines.append(f"-- {name}: no rows yet")
            continue
        lines.append(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM iceberg_scan({_sql_string(table.metadata_location)});"
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
