"""Storage in SQL: the catalog database's tables and the engine on them.

- ``open_engine(url)`` -> ``Engine`` (SQLite or PostgreSQL) with every table created;
- ``transaction(engine)``, ``run_transaction(engine, work)``: how every change runs;
- ``metadata``: the one ``MetaData`` (naming conventions in :mod:`flywheel.db.base`).

The tables themselves are private to their owners: :mod:`flywheel.db.queue_tables` to
the queue, :mod:`flywheel.db.loop_tables` to the loop (import-linter contracts).
"""

from flywheel.db.base import metadata
from flywheel.db.engine import open_engine, run_transaction, transaction

__all__ = ["metadata", "open_engine", "run_transaction", "transaction"]
