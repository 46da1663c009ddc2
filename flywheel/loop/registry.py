"""The model registry as the loop sees it: the ``models`` state table, one row per
version, which a gate decision overwrites (one commit), and ``model_events``, the audit
trail of every status a version took (see docs/decisions/loop-model-decisions.md).

The current model is the version promoted last. ``flywheel.train.registry.Models.promoted()``
(the latest ``promoted`` row) reads the same, since a version is promoted once and never
demoted.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.lake.commit import Change, CommitHook, Head, commit_fresh
from flywheel.lake.filters import equal
from flywheel.lake.state import sync_model_events

DECIDED = ("promoted", "rejected")
_VERSION = re.compile(r"^m(\d+)$")


@dataclass(frozen=True)
class ModelHistory:
    """Every version's row, in training order (m0001, m0002, ...)."""

    latest: dict[str, dict[str, Any]]  # version -> its row (its current status)
    rows: list[dict[str, Any]]  # the same rows, in the order their status was recorded

    @classmethod
    def read(cls, lake: Lake) -> ModelHistory:
        rows = lake.read("models").to_pylist() if lake.current_snapshot_id("models") else []
        rows.sort(key=lambda r: r["created_at"])  # files may come back shuffled
        latest = {r["version"]: r for r in sorted(rows, key=lambda r: _order(r["version"]))}
        return cls(latest, rows)

    def events(self, lake: Lake) -> list[dict[str, Any]]:
        """The audit trail: each status a version took, oldest first, as rows of
        ``models`` with that status, its reason and its time."""
        events = lake.read("model_events").to_pylist()
        events.sort(key=lambda e: (e["recorded_at"], _order(e["version"])))
        return [
            {**self.latest[e["version"]], "status": e["status"], "reason": e["reason"],
             "created_at": e["recorded_at"]}
            for e in events
            if e["version"] in self.latest
        ]  # fmt: skip

    @property
    def versions(self) -> list[str]:
        return list(self.latest)

    def promoted(self) -> dict[str, Any] | None:
        """The current model: the version whose promotion is the latest."""
        for row in reversed(self.rows):
            if row["status"] == "promoted" and self.latest[row["version"]]["status"] == "promoted":
                return self.latest[row["version"]]
        return None

    def promoted_versions(self) -> list[dict[str, Any]]:
        """Every version promoted and never demoted, in training order: the models a
        candidate must not be significantly worse than (the gates take the best).

        >>> rows = [{"version": "m0001", "status": "promoted"},
        ...         {"version": "m0002", "status": "rejected"}]
        >>> [r["version"] for r in ModelHistory({r["version"]: r for r in rows}, rows).promoted_versions()]
        ['m0001']
        """
        return [r for r in self.latest.values() if r["status"] == "promoted"]

    def next_version(self) -> str:
        """The version the next training run registers (``flywheel train``'s numbering).

        >>> ModelHistory({"m0009": {}}, []).next_version()
        'm0010'
        """
        numbers = [int(m.group(1)) for v in self.latest if (m := _VERSION.match(v))]
        return f"m{max(numbers, default=0) + 1:04d}"

    def before(self, version: str) -> dict[str, Any] | None:
        """The version registered just before ``version``, if any."""
        versions = self.versions
        at = versions.index(version)
        return self.latest[versions[at - 1]] if at > 0 else None

    def undecided(self) -> list[dict[str, Any]]:
        """Candidates without a gate decision yet, oldest first."""
        return [r for r in self.latest.values() if r["status"] == "candidate"]

    def latest_trained(self) -> dict[str, Any] | None:
        """The version trained last (whatever its status): new labels count from it."""
        return next(reversed(self.latest.values()), None)

    def accuracy_trend(self) -> list[tuple[str, float]]:
        """(version, accuracy) of every promoted version, in promotion order."""
        seen: dict[str, float] = {}
        for row in self.rows:
            if row["status"] == "promoted":
                seen.setdefault(row["version"], float(row["accuracy"]))
        return list(seen.items())


def _order(version: str) -> tuple[int, str]:
    """Training order: m0002 before m0010; names outside the pattern last."""
    m = _VERSION.match(version)
    return (int(m.group(1)), version) if m else (1 << 62, version)


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
    """Append the decision unless one is recorded, deciding from a fresh read on every
    attempt (two controllers at once record one decision); True when this call wrote it."""
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


def format_models(
    history: ModelHistory, rows: Sequence[Mapping[str, Any]] | None = None
) -> list[str]:
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
