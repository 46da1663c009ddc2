"""One commit discipline for every Iceberg write (docs/decisions/commit-discipline.md).

pyiceberg 0.12 retries a commit that lost a race by rebasing its snapshot onto the new
head (``commit.retry.num-retries``, 4 by default). For a blind append that is harmless;
for ours it is not: every flywheel write is decided by a read (which answers are above
the watermark, which samples or feedback ids are new, which round or version is next),
and a rebased append keeps a decision made on a head that is gone. Two exports at once
then both land, and rows double.

So every flywheel table carries ``commit.retry.num-retries = 0`` (set on creation, and
on first open of a table made before): a commit whose base snapshot is no longer the
head fails (pyiceberg's ``AssertRefSnapshotId`` requirement). ``commit_fresh`` then
loads the table again and asks the writer to decide again from that fresh read, up to
``ATTEMPTS`` times. A writer is a ``build`` function: given a ``Head`` (the table as
loaded for this attempt) it returns the ``Change`` to commit, or None when there is
nothing (left) to write, which is how a write stays idempotent by key.

For example, feedback recorded once per id, however many report it at once::

    def once(head: Head) -> Change | None:
        if head.read(["feedback_id"], equal(feedback_id=fid)).num_rows:
            return None  # already there: nothing to write
        return Change(append=row)

    commit_fresh(lake, "feedback", once)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from flywheel.errors import CommitConflictError

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import Table, Transaction

    from flywheel.lake.lake import Lake

NO_REBASE = {"commit.retry.num-retries": "0"}  # table properties of every flywheel table
# A change that deletes and adds in one commit is two Iceberg snapshots, the delete first:
# its summary carries this mark, so a reader by time (``Lake.snapshot_ids_at``) never takes
# that half, where a replaced row is gone and its successor not yet there.
HALF = "flywheel.half"
DELETE_HALF = {HALF: "delete"}
ATTEMPTS = 12  # fresh reads before a writer gives up with CommitConflictError
_WAIT_S = 0.02  # first back-off; doubles per attempt, with jitter, capped at _MAX_WAIT_S
_MAX_WAIT_S = 1.0

CommitHook = Callable[[str], None]
"""Called with the table name after an attempt wrote its data files and before the
catalog commit: tests pass one to kill the process or to run a competing writer there."""


@dataclass(frozen=True)
class Change:
    """What one attempt commits, as one Iceberg commit: rows matching ``delete`` go
    (an overwrite by key), ``append`` rows and Parquet ``files`` (already written, with
    the table's schema) are added, and the snapshot summary carries ``properties``."""

    append: pa.Table | None = None
    delete: BooleanExpression | None = None
    files: Sequence[str] = ()
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        nothing = self.append is None or self.append.num_rows == 0
        return nothing and self.delete is None and not self.files


class Head:
    """A table as one attempt sees it: loaded fresh, every read at its current snapshot."""

    def __init__(self, lake: Lake, name: str) -> None:
        self.lake, self.name = lake, name
        self.table: Table = lake.table(name)
        snap = self.table.current_snapshot()
        self.snapshot_id: int | None = snap.snapshot_id if snap else None

    def read(
        self,
        columns: Sequence[str] | None = None,
        row_filter: str | BooleanExpression | None = None,
    ) -> pa.Table:
        """Rows of this snapshot (an empty table of the schema when it has none)."""
        kwargs: dict[str, object] = {"snapshot_id": self.snapshot_id}
        if columns is not None:
            kwargs["selected_fields"] = tuple(columns)
        if row_filter is not None:
            kwargs["row_filter"] = row_filter
        if self.snapshot_id is None:
            schema = self.table.schema().as_arrow()
            return schema.empty_table().select(list(columns) if columns else schema.names)
        return self.table.scan(**kwargs).to_arrow()  # type: ignore[arg-type]

    def summaries(self) -> list[dict[str, str]]:
        """Snapshot summaries from the head back to the first, newest first."""
        out: list[dict[str, str]] = []
        snap = self.table.current_snapshot()
        while snap is not None:
            props = snap.summary.additional_properties if snap.summary else {}
            out.append({str(k): str(v) for k, v in props.items()})
            parent = snap.parent_snapshot_id
            snap = self.table.snapshot_by_id(parent) if parent is not None else None
        return out


Build = Callable[[Head], Change | None]


def commit_fresh(
    lake: Lake,
    name: str,
    build: Build,
    before_commit: CommitHook | None = None,
    attempts: int = ATTEMPTS,
) -> int | None:
    """Commit what ``build`` decides from a fresh read of ``name``; when another writer
    commits first, read again and let ``build`` decide again. Returns the new snapshot
    id, or None when ``build`` found nothing to write."""
    from pyiceberg.exceptions import CommitFailedException

    for attempt in range(attempts):
        head = Head(lake, name)
        change = build(head)
        if change is None or change.empty:
            return None
        tx = _stage(head, change)
        if before_commit is not None:
            before_commit(name)
        try:
            tx.commit_transaction()
        except CommitFailedException:
            wait = min(_WAIT_S * 2**attempt, _MAX_WAIT_S)
            time.sleep(wait * random.uniform(0.5, 1.0))
            continue
        snap = head.table.current_snapshot()
        return snap.snapshot_id if snap else None
    raise CommitConflictError(
        f"{name!r} kept changing under this write ({attempts} tries); run the command again"
    )


def _stage(head: Head, change: Change) -> Transaction:
    """A transaction with the change staged: data files and manifests are written, the
    catalog is not yet told. A delete followed by rows is marked ``DELETE_HALF``."""
    from flywheel.lake.schema import TABLE_SCHEMAS

    props = dict(change.properties)
    adds = bool(change.files) or (change.append is not None and change.append.num_rows > 0)
    tx = head.table.transaction()
    if change.delete is not None:
        tx.delete(change.delete, snapshot_properties=props | DELETE_HALF if adds else props)
    if change.append is not None and change.append.num_rows:
        tx.append(change.append.cast(TABLE_SCHEMAS[head.name]), snapshot_properties=props)
    if change.files:
        tx.add_files(list(change.files), snapshot_properties=props, check_duplicate_files=False)
    return tx


def ensure_no_rebase(table: Table) -> Table:
    """``table`` with ``NO_REBASE`` set (a metadata-only commit, once per table)."""
    from pyiceberg.exceptions import CommitFailedException

    for _ in range(ATTEMPTS):
        if all(table.properties.get(k) == v for k, v in NO_REBASE.items()):
            return table
        try:
            return table.transaction().set_properties(NO_REBASE).commit_transaction()
        except CommitFailedException:
            table = table.refresh()
    return table
