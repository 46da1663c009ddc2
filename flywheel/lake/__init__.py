"""The lake: Iceberg tables on local disk or S3, and DuckDB SQL over them."""

from flywheel.lake.lake import Lake
from flywheel.lake.schema import TABLE_SCHEMAS
from flywheel.lake.sql import sql

__all__ = ["TABLE_SCHEMAS", "Lake", "sql"]
