"""The model registry: the ``models`` table's versions, lookup, the promotion rule, and
new rows. The one registry every package reads (train, score, select, the loop's gates
and controller, reports).

One row per version, its current status (a state table: a gate decision overwrites the
row; ``model_events`` keeps each status it took). A model trained now is ``promoted``
when no model is promoted yet, else ``candidate`` until the gates decide (see
docs/decisions/train-model-status.md). The current model is the version promoted last.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pyarrow as pa

from flywheel.errors import NotFoundError
from flywheel.lake import TABLE_SCHEMAS, Lake

_VERSION = re.compile(r"^m(\d+)$")
PROMOTED_ALIAS = "promoted"  # --from promoted: the current promoted model


@dataclass(frozen=True)
class Models:
    """The ``models`` table as read at one snapshot."""

    rows: list[dict[str, Any]]  # in the order their status was recorded (created_at)
    snapshot_id: int | None

    @classmethod
    def read(cls, lake: Lake) -> Models:
        snap = lake.current_snapshot_id("models")
        table = lake.read("models", snapshot_id=snap) if snap is not None else None
        return cls.of(table, snap)

    @classmethod
    def of(cls, table: pa.Table | None, snapshot_id: int | None) -> Models:
        """The rows of ``table`` (any columns that include ``created_at``) in the order
        they were written: a scan returns data files in no set order, and "latest"
        below means status order."""
        rows = table.to_pylist() if table is not None else []
        return cls(sorted(rows, key=lambda r: r["created_at"]), snapshot_id)

    @cached_property
    def latest(self) -> dict[str, dict[str, Any]]:
        """version -> its row (its current status), in training order (m0002 before
        m0010; names outside the ``mNNNN`` pattern last)."""
        return {r["version"]: r for r in sorted(self.rows, key=lambda r: _order(r["version"]))}

    @property
    def versions(self) -> list[str]:
        """Every version, in training order."""
        return list(self.latest)

    def events(self, lake: Lake) -> list[dict[str, Any]]:
        """The audit trail: each status a version took, oldest first, as rows of
        ``models`` with that status, its reason and its time (from ``model_events``)."""
        latest = self.latest
        events = lake.read("model_events").to_pylist()
        events.sort(key=lambda e: (e["recorded_at"], _order(e["version"])))
        return [
            {**latest[e["version"]], "status": e["status"], "reason": e["reason"],
             "created_at": e["recorded_at"]}
            for e in events
            if e["version"] in latest
        ]  # fmt: skip

    def next_version(self) -> str:
        """One past the highest ``mNNNN`` so far: m0001 for the first model.

        >>> Models([{"version": "m0009"}], None).next_version()
        'm0010'
        """
        numbers = [int(m.group(1)) for v in self.versions if (m := _VERSION.match(v))]
        return f"m{max(numbers, default=0) + 1:04d}"

    def get(self, version: str) -> dict[str, Any]:
        """The row of ``version`` (or of the promoted model for ``"promoted"``)."""
        if version == PROMOTED_ALIAS:
            promoted = self.promoted()
            if promoted is None:
                raise NotFoundError("no model is promoted yet; train one without --from first")
            return promoted
        row = self.latest.get(version)
        if row is not None:
            return row
        known = ", ".join(self.versions[-10:]) or "none yet"
        raise NotFoundError(
            f"model version {version!r} does not exist (versions: {known}); "
            'see `flywheel sql "select version, status from models"`'
        )

    def promoted(self) -> dict[str, Any] | None:
        """The current model: the version whose promotion is the latest (and which is
        still promoted), or None."""
        latest = self.latest
        for row in reversed(self.rows):
            if row["status"] == "promoted" and latest[row["version"]]["status"] == "promoted":
                return latest[row["version"]]
        return None

    def promoted_versions(self) -> list[dict[str, Any]]:
        """Every version promoted and never demoted, in training order: the models a
        candidate must not be significantly worse than (the gates take the best).

        >>> rows = [{"version": "m0001", "status": "promoted"},
        ...         {"version": "m0002", "status": "rejected"}]
        >>> [r["version"] for r in Models(rows, None).promoted_versions()]
        ['m0001']
        """
        return [r for r in self.latest.values() if r["status"] == "promoted"]

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

    def decide_status(self) -> tuple[str, str]:
        """(status, reason) of a model trained now."""
        promoted = self.promoted()
        if promoted is None:
            first = not self.rows
            return "promoted", "first model" if first else "no model was promoted"
        return "candidate", f"awaits evaluation gates; {promoted['version']} stays promoted"


def _order(version: str) -> tuple[int, str]:
    """Training order: m0002 before m0010; names outside the pattern last."""
    m = _VERSION.match(version)
    return (int(m.group(1)), version) if m else (1 << 62, version)


def model_row(
    *,
    version: str,
    parent: str | None,
    status: str,
    reason: str,
    modality: str,
    arch: str,
    class_names: Sequence[str],
    checkpoint_uri: str,
    snapshot_ids: dict[str, int | None],
    holdout: dict[str, Any],
    n_train: int,
    metrics: dict[str, Any],
    train_config: dict[str, Any],
    run_id: str,
) -> pa.Table:
    """One ``models`` row as Arrow. The headline metrics get typed columns; the rest of
    ``metrics`` (per-class scores, confusion, calibration) is JSON."""
    detail = {k: v for k, v in metrics.items() if k not in ("accuracy", "macro_f1", "ece", "n")}
    row = {
        "version": version,
        "parent": parent,
        "status": status,
        "reason": reason,
        "modality": modality,
        "arch": arch,
        "class_names": list(class_names),
        "checkpoint_uri": checkpoint_uri,
        "snapshot_ids": json.dumps(snapshot_ids, sort_keys=True),
        "holdout": json.dumps(holdout, sort_keys=True),
        "n_train": n_train,
        "n_eval": int(metrics["n"]),
        "accuracy": float(metrics["accuracy"]),
        "macro_f1": float(metrics["macro_f1"]),
        "ece": float(metrics["ece"]),
        "metrics": json.dumps(detail),
        "train_config": json.dumps(train_config, sort_keys=True),
        "run_id": run_id,
        "created_at": datetime.now(UTC),
    }
    return pa.Table.from_pylist([row], schema=TABLE_SCHEMAS["models"])
