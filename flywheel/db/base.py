"""The one ``MetaData`` every SQL table of flywheel belongs to, and its naming rules.

Constraints a table does not name get the names PostgreSQL itself would give them
(``aq_queues_pkey``, ``aq_vendors_name_key``, ``aq_tasks_queue_id_fkey``), so a database
created before the names were set and one created now have the same schema; on SQLite
the names are only labels.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

NAMING_CONVENTION = {
    "pk": "%(table_name)s_pkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "ck": "%(table_name)s_%(constraint_name)s_check",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGSERIAL.
Id = BigInteger().with_variant(Integer(), "sqlite")
