"""The loop's writes to the model registry: a gate decision overwrites the version's row
of the ``models`` state table (one commit), and ``model_events`` keeps every status a
version took (see docs/decisions/loop-model-decisions.md). Reading the registry is
``flywheel.train.registry.Models``, the one registry every package shares.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from flywheel.lake import (
    TABLE_SCHEMAS,
    Change,
    CommitHook,
    Head,
    Lake,
    commit_fresh,
    equal,
    sync_model_events,
)
from flywheel.train import Models

DECIDED = ("promoted", "rejected")


def decision_row(
    candidate: Mapping[str, Any], status: str, reason: str, gate: Mapping[str, Any]
) -> pa.Table:
    """The candidate's row again with its decision: ``status``, ``reason``, a new
    ``created_at`` and ``run_id``, and the gate's findings under ``metrics["gate"]``.
    Lineage (parent, snapshot ids, checkpoint) is the training run's, unchanged."""
    if status not in DECIDED:
        raise ValueError(f"a decision is one of {DECIDED}, not {status!r}")
    row = dict(candidate)
    metrics = json.loads(row["metrics"])
    metrics["gate"] = dict(gate)
    row.update(
        status=status,
        reason=reason,
        metrics=json.dumps(metrics, default=float),
        run_id=f"gate-{uuid.uuid4().hex}",
        created_at=datetime.now(UTC),
    )
    return pa.Table.from_pylist([row], schema=TABLE_SCHEMAS["models"])


def record_decision(
    lake: Lake,
    candidate: Mapping[str, Any],
    status: str,
    reason: str,
    gate: Mapping[str, Any],
    before_commit: CommitHook | None = None,
) -> bool:
    """Record the decision unless one is recorded: the version's row in ``models`` is
    replaced (delete and append in one commit) by one with the decided status, and the
    status joins ``model_events``. Decided from a fresh read on every attempt (two
    controllers at once record one decision); True when this call wrote it."""
    from pyiceberg.expressions import EqualTo, Reference

    version = candidate["version"]
    sync_model_events(lake)  # an event a crash left unrecorded goes first

    def build(head: Head) -> Change | None:
        statuses = head.read(["status"], equal(version=version)).column("status")
        if any(s in DECIDED for s in statuses.to_pylist()):
            return None
        return Change(
            delete=EqualTo(
                term=Reference("version"), value=version
            ),  # the version's row, overwritten
            append=decision_row(candidate, status, reason, gate),
            properties={"flywheel.gate.version": version, "flywheel.gate.decision": status},
        )

    written = commit_fresh(lake, "models", build, before_commit) is not None
    sync_model_events(lake, before_commit)
    return written


def format_models(history: Models, rows: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
    """A text table of ``rows`` (default: each version's latest), the current model
    starred: version, parent, status, metrics, the data snapshots read, and the reason."""
    current = history.promoted()
    header = ("", "version", "parent", "status", "acc", "f1", "n_train", "data", "reason")
    lines = [header]
    for row in history.latest.values() if rows is None else rows:
        snaps = json.loads(row["snapshot_ids"])
        data = " ".join(f"{k}@{v}" for k, v in sorted(snaps.items()) if k != "models")
        lines.append(
            (
                "*" if current and row["version"] == current["version"] else "",
                row["version"],
                row["parent"] or "-",
                row["status"],
                f"{row['accuracy']:.3f}",
                f"{row['macro_f1']:.3f}",
                str(row["n_train"]),
                data or "-",
                row["reason"],
            )
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(header) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in lines
    ]
