"""Feedback from the field: a bad output, recorded so that no future model repeats it.

A report names a sample already in the lake, or brings the media itself, which goes
through ingest's own checks and commit with ``split = regression`` (so it is never
trained on). Either way a ``feedback`` row records what was predicted and what was
expected, and the sample joins the regression gallery that every candidate is gated on.
Reports are idempotent: the same report twice is one row.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from flywheel.config import Settings
from flywheel.errors import ConfigError, NotFoundError
from flywheel.lake import TABLE_SCHEMAS, Change, CommitHook, Head, Lake, commit_fresh, equal
from flywheel.loop.errors import MediaRejectedError
from flywheel.train import Models

SAMPLE_ID = re.compile(r"^[0-9a-f]{64}$")
MAX_MEDIA_BYTES = 20 << 20


@dataclass(frozen=True)
class FeedbackReport:
    """One report: a sample (``sample_id``) or its media (``media_path`` or ``media``
    bytes), the output seen (``predicted``) and the right class (``expected``)."""

    predicted: str
    expected: str
    sample_id: str | None = None
    media_path: str | None = None
    media: bytes | None = None
    filename: str = "upload"
    model_version: str | None = None
    note: str | None = None
    source: str = "cli"

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.sample_id, self.media_path, self.media)]
        if sum(given) != 1:
            raise ConfigError("give exactly one of --sample-id or --media (the sample reported)")
        if self.sample_id is not None and not SAMPLE_ID.match(self.sample_id):
            raise ConfigError(
                f"sample id {self.sample_id!r} is not a sample id (64 hex digits; "
                'see `flywheel sql "select sample_id from samples"`)'
            )
        if not self.expected.strip() or not self.predicted.strip():
            raise ConfigError("--predicted and --expected must not be empty")
        if self.media is not None and len(self.media) > MAX_MEDIA_BYTES:
            raise ConfigError(f"media of {len(self.media)} bytes is over {MAX_MEDIA_BYTES}")


@dataclass(frozen=True)
class FeedbackResult:
    feedback_id: str
    sample_id: str
    split: str
    created: bool  # False: this report was recorded before
    ingested: bool  # the media became a new sample

    def line(self) -> str:
        what = "recorded" if self.created else "already recorded"
        new = ", media ingested as a new regression sample" if self.ingested else ""
        return (
            f"feedback {self.feedback_id[:12]} {what}: sample {self.sample_id[:12]} "
            f"(split {self.split}) joins the regression gallery{new}"
        )


def record_feedback(
    settings: Settings, report: FeedbackReport, before_commit: CommitHook | None = None
) -> FeedbackResult:
    """Record ``report`` in the ``feedback`` table; the sample joins the gallery.
    ``before_commit`` runs before each catalog commit (a test hook)."""
    lake = Lake(settings)
    _check_classes(lake, report)
    if report.sample_id is not None:
        sample_id, split, ingested = report.sample_id, _split_of(lake, report.sample_id), False
    else:
        sample_id, split, ingested = _ingest_media(lake, report, before_commit)
    key = "\x1f".join([sample_id, report.expected, report.predicted, report.model_version or ""])
    feedback_id = hashlib.sha256(key.encode()).hexdigest()
    row = {
        "feedback_id": feedback_id,
        "sample_id": sample_id,
        "predicted": report.predicted,
        "expected": report.expected,
        "model_version": report.model_version,
        "note": report.note,
        "source": report.source,
    }
    created = _commit_once(lake, row, before_commit)
    return FeedbackResult(feedback_id, sample_id, split, created, ingested)


def _check_classes(lake: Lake, report: FeedbackReport) -> None:
    history = Models.read(lake)
    if report.model_version is not None and report.model_version not in history.latest:
        known = ", ".join(history.versions[-10:]) or "none yet"
        raise NotFoundError(f"model version {report.model_version!r} does not exist ({known})")
    current = history.promoted()
    if current is not None and report.expected not in current["class_names"]:
        raise ConfigError(
            f"expected class {report.expected!r} is not one the model knows: "
            f"{', '.join(current['class_names'])}"
        )


def _split_of(lake: Lake, sample_id: str) -> str:
    rows = lake.read("samples", columns=["split"], row_filter=equal(sample_id=sample_id))
    if rows.num_rows == 0:
        raise NotFoundError(
            f"no sample {sample_id[:12]}... in the lake; report the media itself with --media"
        )
    return str(rows["split"][0].as_py())


def _ingest_media(
    lake: Lake, report: FeedbackReport, before_commit: CommitHook | None
) -> tuple[str, str, bool]:
    """Run ingest's checks and commit on the one file: (sample id, split, new?)."""
    if report.media_path is not None:
        path = Path(report.media_path).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"--media {report.media_path} is not a file")
        return _ingest_file(lake, path, path.name, str(path), before_commit)
    with tempfile.TemporaryDirectory(prefix="flywheel-feedback-") as tmp:
        name = Path(report.filename).name or "upload"
        path = Path(tmp) / name
        path.write_bytes(report.media or b"")
        return _ingest_file(lake, path, name, f"upload:{report.source}/{name}", before_commit)


def _ingest_file(
    lake: Lake, path: Path, name: str, recorded_path: str, before_commit: CommitHook | None
) -> tuple[str, str, bool]:
    from flywheel.ingest import Committer, IngestSummary, InspectConfig, SourceItem, inspect_items
    from flywheel.taxonomy import Taxonomy

    run_id = time.strftime("%Y%m%dT%H%M%S") + "-feedback-" + uuid.uuid4().hex[:8]
    config = InspectConfig(
        source="feedback",
        split="regression",
        run_id=run_id,
        taxonomy=Taxonomy(classes=(), tag_to_class={}),  # reports carry no tags
        media_prefix=lake.settings.media_prefix(),
        s3=lake.settings.s3,
    )
    samples, quarantine = inspect_items([SourceItem(str(path), name, f"feedback:{name}")], config)
    if samples.num_rows:
        at = samples.schema.get_field_index("source_path")
        path_column = pa.array([recorded_path], pa.string())
        samples = samples.set_column(at, samples.schema.field(at), path_column)
    committer = Committer(lake, run_id, "feedback")
    committer.add_samples(samples, quarantine, lake.settings.s3)
    summary = IngestSummary(run_id=run_id, source="feedback")
    committer.commit(summary, before_commit)
    if quarantine.num_rows:
        q = quarantine.to_pylist()[0]
        raise MediaRejectedError(
            f"the media was rejected by ingest ({q['reason']}: {q['detail']}); "
            "it is recorded in the quarantine table"
        )
    sample_id = str(samples["sample_id"][0].as_py())
    return sample_id, _split_of(lake, sample_id), summary.new > 0


def _commit_once(
    lake: Lake, row: Mapping[str, object], before_commit: CommitHook | None = None
) -> bool:
    """Append ``row`` unless its feedback_id is there, deciding from a fresh read on
    every attempt (``commit_fresh``); True when this call appended it."""
    feedback_id = str(row["feedback_id"])

    def build(head: Head) -> Change | None:
        if head.read(["feedback_id"], equal(feedback_id=feedback_id)).num_rows:
            return None
        table = pa.Table.from_pylist(
            [{**row, "reported_at": datetime.now(UTC)}], schema=TABLE_SCHEMAS["feedback"]
        )
        return Change(append=table, properties={"flywheel.feedback_id": feedback_id})

    return commit_fresh(lake, "feedback", build, before_commit) is not None
