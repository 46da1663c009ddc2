"""Every Iceberg writer of flywheel, runnable on a prepared world, in this process or
as ``python -m tests.lake_writers WRITER ROOT [--kill | --kill-at TABLE] [--gate FILE]`` (catalog and
warehouse from the ``FLYWHEEL_*`` and ``AWS_*`` environment, as the CLI takes them).

``--kill`` passes a ``before_commit`` hook that SIGKILLs the process after the data
files are written and before the catalog commit; ``--gate`` waits for a file to exist
before writing, so several processes start their writes together.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from sqlalchemy import Engine

from flywheel.config import Settings
from flywheel.db import open_engine, transaction
from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.lake.commit import CommitHook

SAMPLE = "a" * 64
VERSION = "m0001"
N_TASKS = 24  # round one of the export world: label tasks, one per sample
N_RELABELLED = 6  # round two: verify tasks that decide a labelled sample again
N_NEW = 6  # round two: label tasks of new samples


def prepare(writer: str, settings: Settings) -> None:
    """The world ``writer`` needs: answered tasks, a sample, a candidate, files."""
    settings.root.mkdir(parents=True, exist_ok=True)
    {
        "export": _prepare_export,
        "feedback": _prepare_sample,
        "ingest": _prepare_folder,
        "select": lambda s: None,
        "decision": _prepare_candidate,
        "predictions": _prepare_predictions,
    }[writer](settings)


def run(writer: str, settings: Settings, before_commit: CommitHook | None = None) -> None:
    WRITERS[writer](settings, before_commit)


def _prepare_export(settings: Settings) -> None:
    """Two rounds of answers, the first already in the lake: round two verifies
    ``N_RELABELLED`` labelled samples as "dog" (a second decision: the export replaces
    their rows) and labels ``N_NEW`` new ones, verify tasks first, so every label batch
    of five but the last replaces rows."""
    from flywheel.queue import store
    from flywheel.queue.export import export_labels
    from flywheel.queue.tasks import enqueue

    engine = open_engine(settings.catalog_uri)
    store.create_queue(engine, "q", ["cat", "dog"])
    token = store.add_vendor(engine, "v", ["q"])
    enqueue(engine, "q", [{"sample_id": f"s{i:03d}"} for i in range(N_TASKS)])
    _answer_all(engine, token)
    export_labels(Lake(settings), engine)  # round one: labels 1..N_TASKS in the lake
    relabel = [
        {"sample_id": f"s{i:03d}", "kind": "verify", "prefill": {"label": "dog"}}
        for i in range(0, 3 * N_RELABELLED, 3)
    ]
    new = [{"sample_id": f"s{i:03d}"} for i in range(N_TASKS, N_TASKS + N_NEW)]
    enqueue(engine, "q", relabel + new)
    _answer_all(engine, token)
    engine.dispose()


def _answer_all(engine: Engine, token: str) -> None:
    """One lease of every open task, answered: label tasks "cat", verify tasks "yes"."""
    from flywheel.queue import answers, leasing, store

    with transaction(engine) as conn:
        vendor = store.authenticate(conn, token)
        got = leasing.lease(conn, vendor, "q", 1000)
        given = [
            answers.Answer(x.task_id, "ann", "yes" if x.kind == "verify" else "cat", False,
                           f"k{x.task_id}")
            for x in got.tasks
        ]  # fmt: skip
        answers.submit(conn, vendor, got.lease_id, given)


def _export(settings: Settings, hook: CommitHook | None, engine_uri: str | None = None) -> None:
    from flywheel.queue.export import export_labels

    engine = open_engine(engine_uri or settings.catalog_uri)
    try:
        export_labels(Lake(settings), engine, batch_rows=5, before_commit=hook)
    finally:
        engine.dispose()


def _prepare_sample(settings: Settings) -> None:
    now = datetime.now(UTC)
    row = {
        "sample_id": SAMPLE, "modality": "image", "mime": "image/png", "mime_mismatch": False,
        "source": "t", "source_ref": "x", "source_path": "/x", "tags": [], "split": "pool",
        "media": b"x", "size_bytes": 1, "ingest_run": "r", "ingested_at": now,
    }  # fmt: skip
    Lake(settings).commit("samples", pa.Table.from_pylist([row], TABLE_SCHEMAS["samples"]), {})


def _feedback(settings: Settings, hook: CommitHook | None) -> None:
    from flywheel.loop.feedback import FeedbackReport, record_feedback

    report = FeedbackReport(predicted="cat", expected="dog", sample_id=SAMPLE)
    record_feedback(settings, report, before_commit=hook)


def folder(settings: Settings) -> Path:
    return settings.root.parent / f"{settings.root.name}-source"


def _prepare_folder(settings: Settings) -> None:
    """Eight PNGs (two with the same bytes) and an undecodable file."""
    src = folder(settings)
    src.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(7):
        pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
        Image.fromarray(pixels).save(src / f"img{i}.png")
    (src / "copy.png").write_bytes((src / "img0.png").read_bytes())
    (src / "broken.png").write_bytes(b"\x89PNG not really")


def _ingest(settings: Settings, hook: CommitHook | None) -> None:
    """Ingest's commit path (the Committer) over the folder, without Ray."""
    from flywheel.ingest.commit import Committer
    from flywheel.ingest.inspect import InspectConfig, inspect_items
    from flywheel.ingest.sources import list_source
    from flywheel.ingest.summary import IngestSummary
    from flywheel.taxonomy import Taxonomy

    lake = Lake(settings)
    listing = list_source(str(folder(settings)), settings.s3)
    run_id = f"run-{os.getpid()}-{time.monotonic_ns()}"
    config = InspectConfig(
        source=listing.source, split="pool", run_id=run_id,
        taxonomy=Taxonomy(classes=(), tag_to_class={}),
        media_prefix=settings.media_prefix(), s3=settings.s3,
    )  # fmt: skip
    committer = Committer(lake, run_id, listing.source)
    committer.add_samples(*inspect_items(listing.items, config), settings.s3)
    committer.commit(IngestSummary(run_id=run_id, source=listing.source), hook)


def picks(n: int = 3) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {"round": 0, "sample_id": f"s{i}", "strategy": "random", "score": 1.0, "rank": i + 1,
         "kind": "label", "selected_at": now}
        for i in range(n)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, TABLE_SCHEMAS["selections"])


def _select(settings: Settings, hook: CommitHook | None) -> None:
    from flywheel.selection.run import commit_selection

    commit_selection(Lake(settings), picks(), hook)


def candidate_row(version: str = VERSION, status: str = "candidate") -> dict[str, object]:
    return {
        "version": version, "parent": None, "status": status, "reason": "trained",
        "modality": "image", "arch": "small-cnn", "class_names": ["cat", "dog"],
        "checkpoint_uri": "file:///x/model.pt", "snapshot_ids": "{}", "holdout": "{}",
        "n_train": 1, "n_eval": 1, "accuracy": 0.5, "macro_f1": 0.5, "ece": 0.1,
        "metrics": "{}", "train_config": "{}", "run_id": "r", "created_at": datetime.now(UTC),
    }  # fmt: skip


def _prepare_candidate(settings: Settings) -> None:
    row = pa.Table.from_pylist([candidate_row()], TABLE_SCHEMAS["models"])
    Lake(settings).commit("models", row, {})


def _decision(settings: Settings, hook: CommitHook | None) -> None:
    from flywheel.loop.registry import record_decision

    lake = Lake(settings)
    record_decision(lake, candidate_row(), "promoted", "passed every gate", {}, hook)


def prediction_rows(ids: list[str]) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {"sample_id": s, "model_version": VERSION, "probs": [0.4, 0.6], "predicted_label": "dog",
         "confidence": 0.6, "embedding": [0.0, 1.0], "least_confidence": 0.4, "margin": 0.2,
         "entropy": 0.67, "scorer_node": "n", "scored_at": now}
        for s in ids
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, TABLE_SCHEMAS["predictions"])


def _prepare_predictions(settings: Settings) -> None:
    Lake(settings).table("predictions")


def stage_predictions(lake: Lake, ids: list[str], per_file: int = 4) -> list[str]:
    """Parquet files of predictions for ``ids``, as scoring actors leave them."""
    from flywheel.lake.storage import filesystem
    from flywheel.score.commit import staged_files, staging_uri

    uri = staging_uri(lake)
    fs, path = filesystem(uri, lake.settings.s3)
    fs.create_dir(path)
    for at in range(0, len(ids), per_file):
        chunk = prediction_rows(ids[at : at + per_file])
        pq.write_table(chunk, f"{path}/part-{at:04d}.parquet", filesystem=fs)
    return staged_files(lake, uri)


def _predictions(settings: Settings, hook: CommitHook | None) -> None:
    from flywheel.score.commit import commit_predictions

    lake = Lake(settings)
    files = stage_predictions(lake, [f"s{i:02d}" for i in range(10)])
    commit_predictions(lake, VERSION, files, {"flywheel.model_version": VERSION}, hook)


WRITERS: dict[str, Callable[[Settings, CommitHook | None], None]] = {
    "export": _export,
    "feedback": _feedback,
    "ingest": _ingest,
    "select": _select,
    "decision": _decision,
    "predictions": _predictions,
}


def killer(at: str | None) -> CommitHook:
    """A hook that SIGKILLs this process before the commit to table ``at`` (any: None)."""

    def kill(name: str) -> None:
        if at is None or name == at:
            os.kill(os.getpid(), signal.SIGKILL)

    return kill


def main(argv: list[str]) -> None:
    writer, root, *flags = argv
    if "--gate" in flags:
        gate = Path(flags[flags.index("--gate") + 1])
        while not gate.exists():
            time.sleep(0.005)
    settings = Settings.from_env(root=Path(root), environ=dict(os.environ))
    at = flags[flags.index("--kill-at") + 1] if "--kill-at" in flags else None
    run(writer, settings, killer(at) if "--kill" in flags or at else None)


if __name__ == "__main__":
    main(sys.argv[1:])
