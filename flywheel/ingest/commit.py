"""The single committer of an ingest run.

Workers write each chunk's samples as a staged Parquet file and hand over only the rows'
keys (``flywheel.ingest.worker.KEY_COLUMNS``) and the quarantine rows. At the end the
committer decides which rows land: the first of several items with the same bytes (one
content, one sample; the first by source path, whatever order workers finished in), and
none the lake already holds (a re-run adds nothing). Staged files are added whole when
all their rows land, rewritten one file at a time when some do, deleted when none do;
then samples and quarantine are committed as one unit. A run killed before that commit
leaves only unreferenced staged files: no snapshot, no visible row.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.config import S3Settings
from flywheel.ingest.inspect import InspectConfig
from flywheel.ingest.sources import ManifestProblem
from flywheel.ingest.summary import IngestSummary
from flywheel.ingest.worker import KEY_COLUMNS, keys_of, write_staged
from flywheel.lake import (
    QUARANTINE,
    SAMPLES,
    Change,
    CommitHook,
    Head,
    Lake,
    filesystem,
    without_rows,
)

_KEY_SCHEMA = pa.schema([SAMPLES.field(c) for c in KEY_COLUMNS]).append(
    pa.field("staged_file", pa.string())
)


class Committer:
    def __init__(self, lake: Lake, run_id: str, source: str) -> None:
        self.lake, self.run_id, self.source = lake, run_id, source
        self.staging = staging_uri(lake, run_id)
        self._keys: list[pa.Table] = []
        self._quarantine: list[pa.Table] = []
        self._staged: dict[str, str | None] = {}  # staged file -> what it is now (None: gone)

    def add(self, keys: pa.Table, quarantine: pa.Table, staged_file: str | None = None) -> None:
        """One chunk's sample keys (rows of ``staged_file``) and quarantine rows."""
        if keys.num_rows:
            assert staged_file is not None
            column = pa.array([staged_file] * keys.num_rows, pa.string())
            self._keys.append(keys.append_column("staged_file", column).cast(_KEY_SCHEMA))
            self._staged[staged_file] = staged_file
        self._quarantine.append(quarantine)

    def add_samples(self, samples: pa.Table, quarantine: pa.Table, s3: S3Settings) -> None:
        """Stage ``samples`` from this process (a single report, a test) and add them."""
        staged = write_staged(samples, self.staging, s3) if samples.num_rows else None
        self.add(keys_of(samples), quarantine, staged)

    def add_manifest_problems(
        self, problems: Sequence[ManifestProblem], config: InspectConfig
    ) -> None:
        rows = [
            {
                "content_hash": p.content_hash,
                "reason": p.reason,
                "detail": f"manifest line {p.line_no}: {p.detail}",
                "modality": None,
                "mime": None,
                "source": self.source,
                "source_ref": f"manifest:{p.line_no}",
                "source_path": config.source,
                "ingest_run": self.run_id,
                "quarantined_at": datetime.now(UTC),
            }
            for p in problems
        ]
        self._quarantine.append(pa.Table.from_pylist(rows, schema=QUARANTINE))

    def commit(self, summary: IngestSummary, before_commit: CommitHook | None = None) -> None:
        """Commit what the lake does not hold yet, deciding that from a fresh read of
        each table on every attempt (``commit_fresh``): concurrent runs of one source
        land each sample and each quarantine row once. ``before_commit`` is a test hook."""
        keys = pa.concat_tables([_KEY_SCHEMA.empty_table(), *self._keys])
        quarantine = pa.concat_tables([QUARANTINE.empty_table(), *self._quarantine])
        # Deterministic winner among same-bytes items, whatever order workers finished in.
        keys = keys.sort_by([("source_path", "ascending")])
        keys = keys.take(_first_occurrences(keys.column("sample_id")))
        summary.duplicates = sum(t.num_rows for t in self._keys) - keys.num_rows
        summary.quarantined = Counter(quarantine.column("reason").to_pylist())
        staged = self._staged
        chosen: dict[str, pa.Table] = {}
        props = {"flywheel.ingest_run": self.run_id, "flywheel.source": self.source}
        s3 = self.lake.settings.s3

        def new_samples(head: Head) -> Change:
            present = pc.is_in(keys.column("sample_id"), value_set=_present_ids(head, keys))
            summary.already_present = pc.sum(present).as_py() or 0
            chosen["samples"] = new = keys.filter(pc.invert(present))
            keep_paths = new.column("source_path").combine_chunks()
            for original, current in staged.items():
                if current is not None:
                    staged[original] = without_rows(
                        current, "source_path", keep_paths, keep_listed=True, schema=SAMPLES, s3=s3
                    )
            files = sorted(f for f in staged.values() if f is not None)
            return Change(files=files, properties=props)

        def new_quarantine(head: Head) -> Change:
            known = head.read(["content_hash", "source_ref", "reason"])
            seen = pc.is_in(_quarantine_key(quarantine), value_set=_quarantine_key(known))
            chosen["quarantine"] = quarantine.filter(pc.invert(seen))
            return Change(append=chosen["quarantine"], properties=props)

        summary.snapshots = self.lake.commit_all(
            [("samples", new_samples), ("quarantine", new_quarantine)], before_commit
        )
        new, q_new = chosen["samples"], chosen["quarantine"]
        summary.new = new.num_rows
        summary.quarantine_new = q_new.num_rows
        labels = new.column("weak_label")
        summary.weak_labelled = new.num_rows - labels.null_count
        rules = new.column("weak_label_rule").fill_null("")
        summary.ambiguous = pc.sum(pc.starts_with(rules, "ambiguous:")).as_py() or 0
        summary.mime_mismatch = pc.sum(new.column("mime_mismatch")).as_py() or 0

    def discard(self) -> None:
        """Delete the run's staging folder (a run that failed before its commit): no
        snapshot refers to it. Best effort; a run killed outright leaves it behind,
        unreferenced, for ``flywheel`` maintenance or a bucket lifecycle rule."""
        fs, path = filesystem(self.staging, self.lake.settings.s3)
        with contextlib.suppress(OSError):
            fs.delete_dir(path)


def staging_uri(lake: Lake, run_id: str) -> str:
    """The run's folder for staged Parquet files, inside the samples table's data."""
    return f"{lake.table('samples').location().rstrip('/')}/data/ingest-{run_id}"


def _present_ids(head: Head, keys: pa.Table) -> pa.Array:
    """The run's sample ids that ``head`` already holds, read a batch at a time (the
    lake's ids are never gathered whole)."""
    if head.snapshot_id is None or keys.num_rows == 0:
        return pa.array([], pa.string())
    wanted = keys.column("sample_id").combine_chunks()
    scan = head.table.scan(snapshot_id=head.snapshot_id, selected_fields=("sample_id",))
    found = [
        batch.column(0).filter(pc.is_in(batch.column(0), value_set=wanted))
        for batch in scan.to_arrow_batch_reader()
    ]
    return pa.concat_arrays([pa.array([], pa.string()), *(f.cast(pa.string()) for f in found)])


def _first_occurrences(ids: pa.ChunkedArray) -> np.ndarray:
    """Indices of the first row of each distinct id, in row order."""
    if len(ids) == 0:
        return np.array([], dtype=np.int64)
    _, first = np.unique(
        np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object), return_index=True
    )
    return np.sort(first)


def _quarantine_key(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    if table.num_rows == 0:
        return pa.array([], type=pa.string())
    return pc.binary_join_element_wise(
        table.column("content_hash"), table.column("source_ref"), table.column("reason"), "\x1f"
    )
