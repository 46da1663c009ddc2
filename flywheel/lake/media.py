"""Reading sample media from the lake: only the rows asked for, only the media columns.

``media_batches`` is the scan every reader shares: the ``samples`` rows of some ids, a
record batch at a time, so a caller that handles each batch as it comes holds one
batch of media, not all of it. ``read_media`` (``Lake.media``) collects the bytes of a
few ids in the order asked; ``flywheel.lake.storage.media_of`` resolves inline bytes
and objects, here and in the Ray Data pipelines that read media per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from flywheel.errors import NotFoundError
from flywheel.lake.filters import among
from flywheel.lake.storage import media_of

if TYPE_CHECKING:
    from flywheel.lake.lake import Lake

MEDIA_COLUMNS = ("sample_id", "media", "media_uri")
# Sample ids per Iceberg scan: a scan reads the id column of every data file it cannot
# rule out (ids are hashes: file statistics rarely can), so fewer, larger scans.
IDS_PER_SCAN = 20_000


def media_batches(
    lake: Lake,
    sample_ids: Iterable[str],
    snapshot: Mapping[str, int | None] | None = None,
    columns: Sequence[str] = (),
) -> Iterator[pa.RecordBatch]:
    """Record batches of ``MEDIA_COLUMNS`` and ``columns`` of those of ``sample_ids``
    in ``samples`` at ``snapshot`` (a lake snapshot, ``{table: snapshot id}``; the
    current head when None), in no particular order; ids not there are left out."""
    pinned = snapshot or {}
    if "samples" in pinned and pinned["samples"] is None:
        return  # the samples table had no snapshot then
    ids = sorted(set(sample_ids))
    fields = tuple(dict.fromkeys((*MEDIA_COLUMNS, *columns)))
    table = lake.table("samples")
    kwargs: dict[str, object] = {"selected_fields": fields}
    if pinned.get("samples") is not None:
        kwargs["snapshot_id"] = pinned["samples"]
    for start in range(0, len(ids), IDS_PER_SCAN):
        wanted = among("sample_id", ids[start : start + IDS_PER_SCAN])
        scan = table.scan(row_filter=wanted, **kwargs)  # type: ignore[arg-type]
        yield from scan.to_arrow_batch_reader()


def read_media(
    lake: Lake, sample_ids: Sequence[str], snapshot: Mapping[str, int | None] | None = None
) -> list[bytes]:
    """The media of each of ``sample_ids``, in that order (see ``Lake.media``)."""
    if not sample_ids:
        return []
    batches = [b for b in media_batches(lake, sample_ids, snapshot) if b.num_rows]
    known = {s for b in batches for s in b.column("sample_id").to_pylist()}
    missing = [s for s in dict.fromkeys(sample_ids) if s not in known]
    if missing:
        where = "" if snapshot is None else f" at snapshot {dict(snapshot)}"
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise NotFoundError(
            f"{len(missing)} sample{'s are' if len(missing) > 1 else ' is'} not in the "
            f"lake's samples table{where}: {', '.join(missing[:3])}{more}"
        )
    data: dict[str, bytes] = {}
    for batch in batches:
        ids = batch.column("sample_id").to_pylist()
        data.update(zip(ids, media_of(batch, lake.settings.s3), strict=True))
    return [data[s] for s in sample_ids]
