"""The one label rule: a sample's label is its consolidated label, else its weak label.

The consolidated label is the ``labels`` row of the sample (a state table, one row per
sample; a snapshot written before state tables may hold several, and then the latest
decision, the highest ``label_id``, wins). A sample with neither label has no label and
no row. ``labels_at`` applies the rule in Python at a lake snapshot; ``labels_view_sql``
is the same rule as DuckDB SQL over the ``samples`` and ``labels`` tables, for callers
that join it in a query (``flywheel.lake.sql``).

A lake snapshot is what a ``models`` row pins: ``{table: snapshot id}``. A table it
leaves out is read at its current snapshot; a table pinned to None had no snapshot then
and reads empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression

    from flywheel.lake.lake import Lake

CONSOLIDATED = "consolidated"
WEAK = "weak"
LABEL_COLUMNS = ("sample_id", "label", "label_source", "label_kind")

# The latest consolidated label of each sample and its kind (label | verify | gold).
_CONSOLIDATED_SQL = """select sample_id, arg_max(label, label_id) as label,
  arg_max(kind, label_id) as label_kind
from labels group by sample_id"""


def labels_at(
    lake: Lake,
    snapshot: Mapping[str, int | None] | None = None,
    columns: Sequence[str] = (),
    row_filter: BooleanExpression | None = None,
) -> pa.Table:
    """The label of every labelled sample at ``snapshot`` (the current head when None):
    ``sample_id, label, label_source ('consolidated' | 'weak'), label_kind`` (the
    consolidated label's kind; null for a weak label), then the ``samples`` ``columns``
    asked for. Rows in the samples table's order; ``row_filter`` (a pyiceberg
    expression) narrows the samples read.

    >>> from flywheel.config import Settings
    >>> from flywheel.lake import Lake
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     labels_at(Lake(Settings.from_env(root=root, environ={}))).column_names
    ['sample_id', 'label', 'label_source', 'label_kind']
    """
    pinned = snapshot or {}
    extra = [c for c in dict.fromkeys(columns) if c not in LABEL_COLUMNS]
    read = ["sample_id", "weak_label", *(c for c in extra if c != "weak_label")]
    samples = _read(lake, "samples", read, pinned, row_filter)
    consolidated = _read(lake, "labels", ["label_id", "sample_id", "label", "kind"], pinned)
    return with_labels(samples, consolidated).select([*LABEL_COLUMNS, *extra])


def with_labels(samples: pa.Table, consolidated: pa.Table) -> pa.Table:
    """``samples`` (sample_id, weak_label, ...) with the rule applied: label,
    label_source and label_kind added, weak_label kept, unlabelled samples dropped.
    ``consolidated`` holds ``labels`` rows (sample_id, label, kind, label_id).

    >>> s = pa.table({"sample_id": ["a", "b", "c"], "weak_label": ["cat", "dog", None]})
    >>> c = pa.table({"label_id": [1], "sample_id": ["b"], "label": ["cow"], "kind": ["label"]})
    >>> with_labels(s, c).select(["sample_id", "label", "label_source"]).to_pylist()[1:]
    [{'sample_id': 'b', 'label': 'cow', 'label_source': 'consolidated'}]
    """
    latest = _latest(consolidated)  # one row per decided sample
    at = pc.index_in(samples["sample_id"], value_set=latest["sample_id"])  # (N,) or null
    decided = pc.is_valid(at)
    weak = samples["weak_label"]
    label = pc.if_else(decided, pc.take(latest["label"], at), weak)
    source = pc.if_else(
        decided,
        pa.scalar(CONSOLIDATED),
        pc.if_else(pc.is_valid(weak), pa.scalar(WEAK), pa.scalar(None, pa.string())),
    )
    table = samples.append_column("label", label.cast(pa.string()))
    table = table.append_column("label_source", source.cast(pa.string()))
    table = table.append_column("label_kind", pc.take(latest["kind"], at).cast(pa.string()))
    return table.filter(pc.is_valid(table["label"]))


def labels_view_sql() -> str:
    """DuckDB SQL with the columns and rows of ``labels_at`` (less the extra columns),
    over the tables ``samples`` and ``labels`` as ``flywheel.lake.sql`` registers them;
    join it ``using (sample_id)``.

    >>> from flywheel.config import Settings
    >>> from flywheel.lake.query import sql
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     sql(labels_view_sql(), Settings.from_env(root=root, environ={})).column_names
    ['sample_id', 'label', 'label_source', 'label_kind']
    """
    return f"""select s.sample_id, coalesce(c.label, s.weak_label) as label,
  case when c.label is not null then '{CONSOLIDATED}' else '{WEAK}' end as label_source,
  c.label_kind
from samples s left join ({_CONSOLIDATED_SQL}) c using (sample_id)
where coalesce(c.label, s.weak_label) is not null"""


def _latest(consolidated: pa.Table) -> pa.Table:
    """The latest decision (highest label_id) of each sample: ``sample_id, label, kind``,
    one row per sample, computed in Arrow (no Python loop over the rows)."""
    rows = consolidated.select(["sample_id", "label", "kind", "label_id"])
    rows = rows.sort_by([("sample_id", "ascending"), ("label_id", "ascending")])
    ids = rows["sample_id"]
    if rows.num_rows > 1:  # the last row of each run of one sample_id
        changes = pc.not_equal(ids.slice(0, rows.num_rows - 1), ids.slice(1))
        rows = rows.filter(pa.concat_arrays([*changes.chunks, pa.array([True])]))
    return rows.select(["sample_id", "label", "kind"])


def _read(
    lake: Lake,
    name: str,
    columns: list[str],
    pinned: Mapping[str, int | None],
    row_filter: BooleanExpression | None = None,
) -> pa.Table:
    """``name``'s ``columns`` at its pinned snapshot (current when not pinned, empty
    when pinned to None)."""
    from flywheel.lake.schema import TABLE_SCHEMAS

    if name in pinned and pinned[name] is None:
        return TABLE_SCHEMAS[name].empty_table().select(columns)
    return lake.read(name, columns=columns, snapshot_id=pinned.get(name), row_filter=row_filter)
