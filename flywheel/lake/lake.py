"""``Lake``: the Iceberg tables of one flywheel deployment.

Every table lives in the ``flywheel`` namespace of a pyiceberg SQL catalog (SQLite by
default, PostgreSQL at scale) with its files in the warehouse (a local folder or S3).
Every write is one Iceberg snapshot, so any state can be read back by snapshot id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from flywheel.config import Settings
from flywheel.errors import NotFoundError, StorageError
from flywheel.lake.commit import (
    DELETE_HALF,
    HALF,
    NO_REBASE,
    Build,
    Change,
    CommitHook,
    commit_fresh,
    ensure_no_rebase,
)
from flywheel.lake.schema import TABLE_SCHEMAS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # Iceberg snapshot times are ms since then
MIGRATED = ("models", "labels")  # state tables that kept history rows before

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import Table


class Lake:
    """The tables under one data root.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     Lake(Settings.from_env(root=root, environ={})).read("samples").num_rows
    0
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._catalog: SqlCatalog | None = None
        self._migrated: set[str] = set()  # state tables checked for the old layout

    @property
    def catalog(self) -> SqlCatalog:
        if self._catalog is None:
            self._catalog = _open_catalog(self.settings)
        return self._catalog

    def identifier(self, name: str) -> tuple[str, str]:
        return (self.settings.namespace, name)

    def qualified_name(self, name: str) -> str:
        """``namespace.table``, as Ray Data's ``read_iceberg``/``write_iceberg`` take it."""
        return f"{self.settings.namespace}.{name}"

    def catalog_kwargs(self) -> dict[str, str]:
        """What ``pyiceberg.catalog.load_catalog`` needs to open this catalog in another
        process (Ray Data's read and write tasks)."""
        return _catalog_properties(self.settings) | {"name": "flywheel", "type": "sql"}

    def table(self, name: str) -> Table:
        """The Iceberg table ``name``, created from its schema on first use."""
        if name not in TABLE_SCHEMAS:
            raise NotFoundError(
                f"unknown table {name!r}; tables: {', '.join(sorted(TABLE_SCHEMAS))}"
            )
        try:
            table = self.catalog.create_table_if_not_exists(
                self.identifier(name), schema=TABLE_SCHEMAS[name], properties=NO_REBASE
            )
            table = ensure_no_rebase(table)  # tables made before the commit discipline
        except OSError as err:
            raise StorageError(f"cannot create table {name!r}: {err}") from None
        if name in MIGRATED and name not in self._migrated:
            from flywheel.lake.state import migrate

            self._migrated.add(name)  # before: migrate opens the table again
            migrate(self, name)
            table = table.refresh()
        return table

    def existing_tables(self) -> list[str]:
        """Names of the tables that exist in the catalog now."""
        return sorted(ident[-1] for ident in self.catalog.list_tables(self.settings.namespace))

    def read(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        snapshot_id: int | None = None,
        row_filter: str | BooleanExpression | None = None,
    ) -> pa.Table:
        """The rows of ``name`` at its current (or the given) snapshot, as Arrow;
        ``row_filter`` a pyiceberg expression (or its string form)."""
        table = self.table(name)
        kwargs: dict[str, object] = {}
        if columns is not None:
            kwargs["selected_fields"] = tuple(columns)
        if snapshot_id is not None:
            kwargs["snapshot_id"] = snapshot_id
        if row_filter is not None:
            kwargs["row_filter"] = row_filter
        return table.scan(**kwargs).to_arrow()  # type: ignore[arg-type]

    def media(
        self, sample_ids: Sequence[str], snapshot: Mapping[str, int | None] | None = None
    ) -> list[bytes]:
        """The media bytes of each of ``sample_ids``, in the order asked: inline bytes or
        the object at ``media_uri``, of the ``samples`` rows at ``snapshot`` (a lake
        snapshot, ``{table: snapshot id}`` as a ``models`` row pins it; the current head
        when None). Only those rows are read. An id not there is a ``NotFoundError``; an
        object that cannot be read, a ``StorageError``.

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     Lake(Settings.from_env(root=root, environ={})).media([])
        []
        """
        from flywheel.lake.media import read_media

        return read_media(self, sample_ids, snapshot)

    def commit(
        self,
        name: str,
        data: pa.Table,
        properties: Mapping[str, str],
        before_commit: CommitHook | None = None,
    ) -> int | None:
        """Append ``data`` to ``name`` as one snapshot carrying ``properties`` in its
        summary, whatever the table holds (rows decided without reading it; a write
        decided by a read uses ``flywheel.lake.commit.commit_fresh``). Returns the new
        snapshot id (None when ``data`` is empty)."""
        change = Change(append=data, properties=properties)
        return commit_fresh(self, name, lambda _head: change, before_commit)

    def commit_all(
        self, parts: Sequence[tuple[str, Build]], before_commit: CommitHook | None = None
    ) -> dict[str, int | None]:
        """Commit several tables in turn, each by ``commit_fresh``; when a later commit
        fails, the earlier ones are rolled back to the snapshot they had before (unless
        another writer has committed on top meanwhile), so a run lands whole or not at all.
        (Iceberg has no multi-table transaction; see docs/decisions/multi-table-commit.md
        for the crash case.)"""
        before = {name: self.current_snapshot_id(name) for name, _ in parts}
        done: dict[str, int | None] = {}
        try:
            for name, build in parts:
                done[name] = commit_fresh(self, name, build, before_commit)
        except BaseException:
            for name, snap_id in done.items():
                if snap_id is not None:
                    self._rollback(name, snap_id, before[name])
            raise
        return done

    def _rollback(self, name: str, ours: int, snapshot_id: int | None) -> None:
        """Set ``name`` back to ``snapshot_id`` if its head is still ``ours``; the
        requirement pyiceberg adds makes a concurrent commit fail this, not vanish."""
        table = self.table(name)
        head = table.current_snapshot()
        if head is None or head.snapshot_id != ours:
            return  # another writer built on our snapshot: keep theirs (and ours)
        if snapshot_id is None:
            # The table had no snapshot before: empty it again with a delete snapshot.
            table.delete()
        else:
            table.manage_snapshots().set_current_snapshot(snapshot_id).commit()

    def current_snapshot_id(self, name: str) -> int | None:
        snap = self.table(name).current_snapshot()
        return snap.snapshot_id if snap else None

    def snapshot_ids(self) -> dict[str, int | None]:
        """The current snapshot id of every table in the contract."""
        return {name: self.current_snapshot_id(name) for name in TABLE_SCHEMAS}

    def snapshot_ids_at(self, when: datetime) -> dict[str, int | None]:
        """The snapshot id of every table in the contract that was current at ``when``
        (an aware datetime; None: the table had no snapshot then).

        A snapshot marked ``DELETE_HALF`` is never the answer: it is the first half of
        one commit that replaced rows (delete, then append), so the table was at the
        snapshot before it until the commit landed with both halves."""
        at_ms = (when - _EPOCH) // timedelta(milliseconds=1)
        return {name: self._snapshot_id_at(name, at_ms) for name in TABLE_SCHEMAS}

    def _snapshot_id_at(self, name: str, at_ms: int) -> int | None:
        table = self.table(name)
        for entry in reversed(table.history()):  # the snapshot log, oldest first
            if entry.timestamp_ms > at_ms:
                continue
            snap = table.snapshot_by_id(entry.snapshot_id)
            props = snap.summary.additional_properties if snap and snap.summary else {}
            if props.get(HALF) != DELETE_HALF[HALF]:
                return entry.snapshot_id
        return None

    def snapshot_properties(self, name: str) -> dict[str, str]:
        """The summary of ``name``'s current snapshot ({} when it has none)."""
        snap = self.table(name).current_snapshot()
        if snap is None or snap.summary is None:
            return {}
        return {str(k): str(v) for k, v in snap.summary.additional_properties.items()}

    def data_files(self, name: str, snapshot_id: int | None = None) -> list[str] | None:
        """The Parquet files of a snapshot, or None when it has delete files (then the
        rows must be read through ``read``)."""
        table = self.table(name)
        if snapshot_id is None and table.current_snapshot() is None:
            return []
        scan = table.scan(snapshot_id=snapshot_id)
        files = []
        for task in scan.plan_files():
            if task.delete_files:
                return None
            files.append(task.file.file_path)
        return files


def _open_catalog(settings: Settings) -> SqlCatalog:
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    from flywheel.lake.storage import check_reachable

    check_reachable(settings)
    props = _catalog_properties(settings)
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            catalog = SqlCatalog("flywheel", **props)
            catalog.create_namespace_if_not_exists(settings.namespace)
            return catalog
        except SQLAlchemyError as err:
            first = str(err).strip().splitlines()[0]
            # Two processes opening a new catalog at once both create its tables and
            # namespace; the loser fails: on PostgreSQL "already exists" or "duplicate
            # key", on SQLite "UNIQUE constraint failed" (an IntegrityError on both) or
            # "database is locked" while the winner writes. The next try finds what the
            # winner made.
            raced = isinstance(err, IntegrityError) or any(
                text in first for text in ("already exists", "duplicate key", "database is locked")
            )
            if raced and attempt < _OPEN_ATTEMPTS - 1:
                time.sleep(0.1 * (attempt + 1))
                continue
            raise StorageError(f"cannot open the catalog database: {first}") from None
    raise AssertionError("unreachable")


_OPEN_ATTEMPTS = 5


def _catalog_properties(settings: Settings) -> dict[str, str]:
    props = {"uri": settings.catalog_uri, "warehouse": settings.warehouse}
    if settings.warehouse_is_s3:
        props.update(settings.s3.pyiceberg_properties())
    return props
