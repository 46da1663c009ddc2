"""The ``models`` table: versions, lookup, the promotion rule, and new rows.

One row per version, its current status (a state table: a gate decision overwrites the
row; ``model_events`` keeps each status it took). A model trained now is ``promoted``
when no model is promoted yet, else ``candidate`` until the gates decide (see
docs/decisions/train-model-status.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from flywheel.errors import NotFoundError
from flywheel.lake import TABLE_SCHEMAS, Lake

_VERSION = re.compile(r"^m(\d+)$")
PROMOTED_ALIAS = "promoted"  # --from promoted: the current promoted model


@dataclass(frozen=True)
class Models:
    """The ``models`` table as read at one snapshot."""

    rows: list[dict[str, Any]]
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

    @property
    def versions(self) -> list[str]:
        return [r["version"] for r in self.rows]

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
        for row in reversed(self.rows):
            if row["version"] == version:
                return row
        known = ", ".join(self.versions[-10:]) or "none yet"
        raise NotFoundError(
            f"model version {version!r} does not exist (versions: {known}); "
            'see `flywheel sql "select version, status from models"`'
        )

    def promoted(self) -> dict[str, Any] | None:
        """The latest row whose status is ``promoted``, or None."""
        for row in reversed(self.rows):
            if row["status"] == "promoted":
                return row
        return None

    def decide_status(self) -> tuple[str, str]:
        """(status, reason) of a model trained now."""
        promoted = self.promoted()
        if promoted is None:
            first = not self.rows
            return "promoted", "first model" if first else "no model was promoted"
        return "candidate", f"awaits evaluation gates; {promoted['version']} stays promoted"


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
