"""The loop's steps over the other stages. Each is idempotent on its own: it reads what
is done from the lake and the queue database, and does only the rest.

- export: answers, then labels, each exactly once (the queue's watermarked export);
- count new labels: rows in ``labels`` now minus rows at a model's pinned snapshot;
- score: the promoted model scores what it has not (retried once when Ray fails);
- select: a batch by the strategy into the queue, then prefills of blocklisted classes
  are taken off the new tasks;
- requeue: picks that a crash left between the ``selections`` commit and the enqueue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
from sqlalchemy import Engine

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.lake import Lake, equal
from flywheel.queue import ExportResult, clean_prefill, enqueue, export_labels, scrub_prefills

if TYPE_CHECKING:
    from flywheel.score import ScoreConfig
    from flywheel.selection import SelectConfig

Echo = Callable[[str], None]
SCORE_ATTEMPTS = 3


def export(lake: Lake, engine: Engine, pause: Callable[[str], None]) -> ExportResult:
    """Export new answers and labels; ``pause("export")`` runs between the two commits
    (the test hook for a crash in the middle of an export). Labels go only as far as
    the answers exported with them (see :mod:`flywheel.queue.export`)."""
    return export_labels(lake, engine, between=lambda: pause("export"))


def label_count(lake: Lake, snapshot_id: int | None) -> int:
    """Rows of ``labels`` at ``snapshot_id`` (None: before the table had any)."""
    if snapshot_id is None:
        return 0
    snap = lake.table("labels").snapshot_by_id(snapshot_id)
    total = snap.summary["total-records"] if snap is not None and snap.summary else None
    if total is not None:
        return int(total)
    return lake.read("labels", columns=["label_id"], snapshot_id=snapshot_id).num_rows


def new_labels_since(
    lake: Lake, model: Mapping[str, Any] | None, until: Mapping[str, Any] | None = None
) -> int:
    """Labels landed since ``model`` was trained (all of them when there is none), up to
    now or to when model ``until`` was trained."""
    end = _labels_snapshot(until) if until is not None else lake.current_snapshot_id("labels")
    start = _labels_snapshot(model) if model is not None else None
    return label_count(lake, end) - label_count(lake, start)


def _labels_snapshot(model: Mapping[str, Any]) -> int | None:
    snap = json.loads(model["snapshot_ids"]).get("labels")
    return None if snap is None else int(snap)


def ensure_scored(settings: Settings, config: ScoreConfig, echo: Echo) -> int:
    """Score what ``config.model`` has not scored yet; returns the samples scored. A run
    that Ray fails (a worker killed mid-way) wrote nothing, so it is simply run again."""
    from ray.exceptions import RayError

    from flywheel.score import score

    for attempt in range(1, SCORE_ATTEMPTS + 1):
        try:
            summary = score(settings, config)
        except RayError as err:
            if attempt == SCORE_ATTEMPTS:
                raise
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            echo(f"  score: attempt {attempt} failed ({first[:120]}); running it again")
            continue
        if summary.scored:
            echo(f"  {summary.lines()[0]}")
        return summary.scored
    return 0


@dataclass(frozen=True)
class Batch:
    round: int
    picked: int
    enqueued: int
    model_version: str | None


def select_batch(
    settings: Settings, lake: Lake, engine: Engine, config: SelectConfig, model: str | None
) -> Batch | None:
    """Select and enqueue up to ``config.budget`` samples into ``config.queue`` that are
    neither labelled nor queued (fewer when the pool has fewer left); None when it has
    none. Prefills of ``config.blocklist`` classes are taken off the new tasks."""
    from flywheel.selection import known_sample_ids, select

    if config.queue is None:
        raise ConfigError("the loop selects into a queue: config.queue is None")
    pool = lake.read("samples", columns=["sample_id"], row_filter=equal(split="pool"))
    known = known_sample_ids(lake, settings)
    left = int(pc.sum(pc.invert(pc.is_in(pool["sample_id"], pa_set(known)))).as_py() or 0)
    if left == 0:
        return None
    summary = select(settings, replace(config, budget=min(config.budget, left)))
    scrub_prefills(engine, config.queue, config.blocklist)  # tasks enqueued before
    return Batch(summary.round, summary.picks.num_rows, summary.enqueued, model)


def pa_set(values: Iterable[str]) -> Any:
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


def requeue_last_batch(
    settings: Settings, lake: Lake, engine: Engine, queue: str, blocklist: frozenset[str]
) -> int:
    """Enqueue the picks of the queue's latest selection round that have no task yet
    (a crash between select's two writes). Returns tasks added; 0 in the usual case."""
    picks = lake.read("selections", row_filter=equal(queue=queue))
    if picks.num_rows == 0:
        return 0
    last = pc.max(picks["round"]).as_py()
    rows = picks.filter(pc.equal(picks["round"], last)).sort_by("rank").to_pylist()
    items = [_task_item(r, blocklist) for r in rows]
    return enqueue(engine, queue, items).added


def _task_item(row: Mapping[str, Any], blocklist: frozenset[str]) -> dict[str, Any]:
    prefill = None
    if row["predicted_label"] is not None:
        prefill = {
            "label": row["predicted_label"],
            "confidence": row["confidence"],
            "top_k": [[x["label"], x["prob"]] for x in row["top_k"] or []],
        }
        if row["kind"] == "label":
            prefill = clean_prefill(prefill, blocklist)
    if row["kind"] == "verify" and row["weak_label"] is not None:
        prefill = {**(prefill or {}), "label": row["weak_label"]}  # "is this <weak label>?"
    return {
        "sample_id": row["sample_id"],
        "kind": row["kind"],
        "prefill": prefill,
        "priority": float(-row["rank"]),
    }
