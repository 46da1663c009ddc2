"""The table contract: one Arrow schema per lake table.

This module is the single source of truth; ``schemas/<table>.json`` are generated
from it (``scripts/write-schemas``) for tools that do not speak
Python, and a test fails when they are stale. ``TABLE_KINDS`` says which tables are
state (one row per key, the current state) and which are events (one row per thing
that happened), and the key of each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa


def _f(name: str, type_: pa.DataType, nullable: bool, doc: str) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


TIMESTAMP = pa.timestamp("us", tz="UTC")

SAMPLES = pa.schema(
    [
        _f("sample_id", pa.string(), False, "sha256 of the raw bytes, hex; one id per content"),
        _f("modality", pa.string(), False, "image | audio (a flywheel.modalities plugin)"),
        _f("mime", pa.string(), False, "MIME type detected from the magic bytes"),
        _f("mime_mismatch", pa.bool_(), False, "the file extension names another type"),
        _f("source", pa.string(), False, "the ingest source: folder, manifest or s3:// prefix"),
        _f("source_ref", pa.string(), False, "id in the source system (manifest) or the path"),
        _f("source_path", pa.string(), False, "where the bytes were read from"),
        _f("tags", pa.list_(pa.string()), False, "raw tags as given, e.g. #cat"),
        _f("weak_label", pa.string(), True, "class from the taxonomy, null if none or ambiguous"),
        _f("weak_label_rule", pa.string(), True, "tag:<tag> | ambiguous:<a>,<b> | null"),
        _f("split", pa.string(), False, "pool | test | regression"),
        _f("media", pa.binary(), True, "the bytes, inline when small"),
        _f("media_uri", pa.string(), True, "object URI of the bytes when not inline"),
        _f("size_bytes", pa.int64(), False, "size of the raw bytes"),
        _f("width", pa.int32(), True, "image width, pixels"),
        _f("height", pa.int32(), True, "image height, pixels"),
        _f("channels", pa.int32(), True, "image bands or audio channels"),
        _f("duration_s", pa.float64(), True, "audio duration, seconds"),
        _f("sample_rate", pa.int32(), True, "audio sample rate, Hz"),
        _f("ingest_run", pa.string(), False, "id of the ingest run that added the row"),
        _f("ingested_at", TIMESTAMP, False, "when the row was committed (UTC)"),
    ]
)

QUARANTINE = pa.schema(
    [
        _f("content_hash", pa.string(), False, "sha256 of the rejected bytes (or manifest line)"),
        _f("reason", pa.string(), False, "undecodable | truncated | too_small | near_silent | ..."),
        _f("detail", pa.string(), False, "what the check saw, for people"),
        _f("modality", pa.string(), True, "the modality it was checked as, if known"),
        _f("mime", pa.string(), True, "MIME type from the magic bytes, if any"),
        _f("source", pa.string(), False, "the ingest source"),
        _f("source_ref", pa.string(), False, "id in the source system or the path"),
        _f("source_path", pa.string(), False, "where the bytes were read from"),
        _f("ingest_run", pa.string(), False, "id of the ingest run that found it"),
        _f("quarantined_at", TIMESTAMP, False, "when the row was committed (UTC)"),
    ]
)

ANNOTATIONS = pa.schema(
    [
        _f("annotation_id", pa.int64(), False, "id in the queue database; the export watermark"),
        _f("task_id", pa.int64(), False, "the queue task answered"),
        _f("queue", pa.string(), False, "queue name"),
        _f("sample_id", pa.string(), False, "the sample the task shows"),
        _f("kind", pa.string(), False, "label | verify"),
        _f("is_gold", pa.bool_(), False, "the task was a gold task (known answer)"),
        _f("vendor", pa.string(), False, "vendor name"),
        _f("annotator", pa.string(), False, "annotator id as the vendor sent it"),
        _f("label", pa.string(), True, "the answer; verify tasks: yes | no | unsure; null if skip"),
        _f("skip", pa.bool_(), False, "the annotator skipped the task"),
        _f("counted", pa.bool_(), False, "counted towards the task's consensus"),
        _f("lease_id", pa.string(), True, "lease it was answered under; null for imports"),
        _f("idempotency_key", pa.string(), False, "the vendor's key for this answer"),
        _f("answered_at", TIMESTAMP, False, "when the answer was stored (UTC)"),
    ]
)

LABELS = pa.schema(
    [
        _f("label_id", pa.int64(), False, "id in the queue database; the export watermark"),
        _f("sample_id", pa.string(), False, "the labelled sample"),
        _f("label", pa.string(), False, "the consolidated class"),
        _f("kind", pa.string(), False, "label (consensus) | verify (prefill confirmed) | gold"),
        _f("method", pa.string(), False, "single | majority | weighted | gold"),
        _f("queue", pa.string(), False, "queue name"),
        _f("task_id", pa.int64(), True, "the decided task; null for gold"),
        _f("votes", pa.map_(pa.string(), pa.int32()), False, "answers per label"),
        _f("agreement", pa.float64(), False, "winner's share of the answers"),
        _f("confidence", pa.float64(), False, "winner's share of the accuracy-weighted votes"),
        _f("n_answers", pa.int32(), False, "answers counted"),
        _f("decided_at", TIMESTAMP, False, "when the label was decided (UTC)"),
    ]
)

MODELS = pa.schema(
    [
        _f("version", pa.string(), False, "model version, m0001, m0002, ... in training order"),
        _f("parent", pa.string(), True, "version it was fine-tuned from (--from); null if none"),
        _f("status", pa.string(), False, "promoted | candidate | rejected"),
        _f("reason", pa.string(), False, "why it has that status, for people"),
        _f("modality", pa.string(), False, "image | audio"),
        _f("arch", pa.string(), False, "network architecture, e.g. small-cnn"),
        _f("class_names", pa.list_(pa.string()), False, "logit i is class_names[i]"),
        _f("checkpoint_uri", pa.string(), False, "{warehouse}/models/<version>/<run_id>/model.pt"),
        _f("snapshot_ids", pa.string(), False, "JSON {table: snapshot id} of every table read"),
        _f("holdout", pa.string(), False, "JSON: the evaluation set (test split or hash slice)"),
        _f("n_train", pa.int64(), False, "labelled samples trained on"),
        _f("n_eval", pa.int64(), False, "samples evaluated on"),
        _f("accuracy", pa.float64(), False, "top-1 accuracy on the evaluation set"),
        _f("macro_f1", pa.float64(), False, "mean F1 over classes with support"),
        _f("ece", pa.float64(), False, "expected calibration error, 15 equal-width bins"),
        _f("metrics", pa.string(), False, "JSON: per-class P/R/F1, confusion, calibration"),
        _f("train_config", pa.string(), False, "JSON: epochs, workers, weak_weight, lr, ..."),
        _f("run_id", pa.string(), False, "id of the training run"),
        _f("created_at", TIMESTAMP, False, "when the row was committed (UTC)"),
    ]
)

PREDICTIONS = pa.schema(
    [
        _f("sample_id", pa.string(), False, "the scored sample"),
        _f("model_version", pa.string(), False, "the model that scored it"),
        _f(
            "probs",
            pa.list_(pa.float32()),
            False,
            "class probabilities, in the model's class order",
        ),
        _f("predicted_label", pa.string(), False, "the most probable class"),
        _f("confidence", pa.float32(), False, "probability of the predicted class"),
        _f("embedding", pa.list_(pa.float32()), False, "penultimate-layer embedding (D floats)"),
        _f("least_confidence", pa.float32(), False, "1 - max probability; higher = less sure"),
        _f("margin", pa.float32(), False, "top-1 minus top-2 probability; lower = closer call"),
        _f("entropy", pa.float32(), False, "entropy of the probabilities, nats"),
        _f(
            "bald", pa.float32(), True, "BALD mutual information from MC-dropout, nats; null if T=0"
        ),
        _f("mc_probs", pa.list_(pa.float32()), True, "MC-dropout probabilities, T x C row-major"),
        _f("scorer_node", pa.string(), False, "Ray node that scored it"),
        _f("scored_at", TIMESTAMP, False, "when the batch was scored (UTC)"),
    ]
)

SELECTIONS = pa.schema(
    [
        _f("round", pa.int64(), False, "selection round, 1, 2, ... (one per select run)"),
        _f("sample_id", pa.string(), False, "the chosen sample"),
        _f(
            "strategy",
            pa.string(),
            False,
            "strategy with its modifiers, e.g. class-balanced(margin)",
        ),
        _f(
            "model_version",
            pa.string(),
            True,
            "model whose scores were used; null for a cold start",
        ),
        _f("score", pa.float64(), False, "the strategy's score; higher was picked first"),
        _f("rank", pa.int64(), False, "1 = picked first"),
        _f("kind", pa.string(), False, "label | verify: the annotation task it asks for"),
        _f("predicted_label", pa.string(), True, "prefill: the model's class"),
        _f("confidence", pa.float32(), True, "prefill: the model's probability for it"),
        _f(
            "top_k",
            pa.list_(pa.struct([("label", pa.string()), ("prob", pa.float32())])),
            True,
            "prefill: the k most probable classes",
        ),
        _f("weak_label", pa.string(), True, "the sample's weak label, for verification"),
        _f("queue", pa.string(), True, "annotation queue it was sent to, if any"),
        _f("selected_at", TIMESTAMP, False, "when the round was committed (UTC)"),
    ]
)

FEEDBACK = pa.schema(
    [
        _f("feedback_id", pa.string(), False, "sha256 of sample, expected, predicted and model"),
        _f("sample_id", pa.string(), False, "the sample reported; it joins the regression gallery"),
        _f("predicted", pa.string(), False, "the output seen in the field, as reported"),
        _f("expected", pa.string(), False, "the right class: the gallery's expected label"),
        _f("model_version", pa.string(), True, "model that gave the output, if known"),
        _f("note", pa.string(), True, "free text from the reporter"),
        _f("source", pa.string(), False, "cli | api:<vendor>: who reported it"),
        _f("reported_at", TIMESTAMP, False, "when the report was committed (UTC)"),
    ]
)

MODEL_EVENTS = pa.schema(
    [
        _f("version", pa.string(), False, "the model version the event is about"),
        _f("status", pa.string(), False, "the status it took: candidate | promoted | rejected"),
        _f("reason", pa.string(), False, "why, for people"),
        _f("gate", pa.string(), True, "JSON: the gates' findings behind a decision; null else"),
        _f("run_id", pa.string(), False, "the training run or gate decision that made it"),
        _f("recorded_at", TIMESTAMP, False, "when the status was recorded (UTC)"),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "samples": SAMPLES,
    "quarantine": QUARANTINE,
    "annotations": ANNOTATIONS,
    "labels": LABELS,
    "models": MODELS,
    "predictions": PREDICTIONS,
    "selections": SELECTIONS,
    "feedback": FEEDBACK,
    "model_events": MODEL_EVENTS,
}


@dataclass(frozen=True)
class TableKind:
    """What one row of a table is. A ``state`` table holds the current state, one row
    per ``key`` (history is time travel: ``flywheel sql --as-of``); an ``event`` table
    records things that happened, one row each, never changed (``key`` is unique too)."""

    kind: str  # state | event
    key: tuple[str, ...]
    row: str  # what one row is, for people


TABLE_KINDS: dict[str, TableKind] = {
    "samples": TableKind("state", ("sample_id",), "a unique media item"),
    "labels": TableKind("state", ("sample_id",), "the consolidated label of a sample"),
    "models": TableKind("state", ("version",), "a model version, with its current status"),
    "predictions": TableKind(
        "state", ("model_version", "sample_id"), "a sample scored by one model version"
    ),
    "quarantine": TableKind(
        "event", ("content_hash", "source_ref", "reason"), "an input rejected by ingest"
    ),
    "annotations": TableKind("event", ("annotation_id",), "one annotator's answer to one task"),
    "selections": TableKind("event", ("round", "sample_id"), "a sample chosen in a round"),
    "feedback": TableKind("event", ("feedback_id",), "a reported bad output"),
    "model_events": TableKind(
        "event", ("version", "status"), "a model version taking a status (the audit trail)"
    ),
}


def describe(schema: pa.Schema) -> list[dict[str, object]]:
    """A JSON-friendly description of ``schema``: name, type, nullable, doc."""
    return [
        {
            "name": f.name,
            "type": str(f.type),
            "nullable": f.nullable,
            "doc": (f.metadata or {}).get(b"doc", b"").decode(),
        }
        for f in schema
    ]


def schema_document(name: str) -> dict[str, object]:
    """What ``schemas/<name>.json`` holds: the table's kind, key and columns."""
    kind = TABLE_KINDS[name]
    return {
        "table": name,
        "kind": kind.kind,
        "key": list(kind.key),
        "row": kind.row,
        "columns": describe(TABLE_SCHEMAS[name]),
    }


def write_schema_files(dest: Path) -> list[Path]:
    """Write ``dest/<table>.json`` for every table; returns the paths written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLE_SCHEMAS:
        path = dest / f"{name}.json"
        doc = schema_document(name)
        path.write_text(json.dumps(doc, indent=2) + "\n")
        written.append(path)
    return written
