"""The single committer of an ingest run.

Workers hand it Arrow batches; at the end it removes what the lake already holds
(a re-run adds nothing), keeps the first of several items with the same bytes (one
content, one sample), and commits samples and quarantine as one unit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.ingest.inspect import InspectConfig
from flywheel.ingest.sources import ManifestProblem
from flywheel.lake import Lake
from flywheel.lake.commit import Change, CommitHook, Head
from flywheel.lake.schema import QUARANTINE, SAMPLES

if TYPE_CHECKING:
    from flywheel.ingest.run import IngestSummary


class Committer:
    def __init__(self, lake: Lake, run_id: str, source: str) -> None:
        self.lake, self.run_id, self.source = lake, run_id, source
        self._samples: list[pa.Table] = []
        self._quarantine: list[pa.Table] = []

    def add(self, samples: pa.Table, quarantine: pa.Table) -> None:
        self._samples.append(samples)
        self._quarantine.append(quarantine)

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
        samples = pa.concat_tables([SAMPLES.empty_table(), *self._samples])
        quarantine = pa.concat_tables([QUARANTINE.empty_table(), *self._quarantine])
        # Deterministic winner among same-bytes items, whatever order workers finished in.
        samples = samples.sort_by([("source_path", "ascending")])
        first = _first_occurrences(samples.column("sample_id"))
        summary.duplicates = samples.num_rows - len(first)
        samples = samples.take(first)
        summary.quarantined = Counter(quarantine.column("reason").to_pylist())
        now = datetime.now(UTC)
        samples = samples.set_column(
            samples.schema.get_field_index("ingested_at"),
            "ingested_at",
            pa.array([now] * samples.num_rows, type=SAMPLES.field("ingested_at").type),
        )
        chosen: dict[str, pa.Table] = {}
        props = {"flywheel.ingest_run": self.run_id, "flywheel.source": self.source}

        def new_samples(head: Head) -> Change:
            existing = head.read(["sample_id"]).column("sample_id")
            present = pc.is_in(samples.column("sample_id"), value_set=existing)
            summary.already_present = pc.sum(present).as_py() or 0
            chosen["samples"] = samples.filter(pc.invert(present))
            return Change(append=chosen["samples"], properties=props)

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
