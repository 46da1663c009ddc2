"""A model's confusion counts (from the ``models`` table) and the change between two
versions, as row-normalised rates: "of the true X, how many percentage points more (or
fewer) went to Y". Shared by the confusion page and its figure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Matrix:
    """One model's confusion counts and headline metrics."""

    version: str
    labels: list[str]
    counts: np.ndarray  # (K, K) int, rows true
    row: dict[str, Any]
    per_class: dict[str, dict[str, float]]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Matrix:
        metrics = json.loads(row["metrics"])
        confusion = metrics["confusion"]
        counts = np.asarray(confusion["matrix"], dtype=np.int64).reshape(
            len(confusion["labels"]), len(confusion["labels"])
        )
        return cls(row["version"], list(confusion["labels"]), counts, row, metrics["per_class"])

    def rates(self, labels: list[str]) -> np.ndarray:
        """(K', K') share of each true class per predicted class over ``labels``; NaN
        where this model does not know the class or saw no sample of it."""
        index = [self.labels.index(n) if n in self.labels else -1 for n in labels]
        out = np.full((len(labels), len(labels)), np.nan)
        for i, a in enumerate(index):
            total = self.counts[a].sum() if a >= 0 else 0
            if total:
                for j, b in enumerate(index):
                    out[i, j] = self.counts[a, b] / total if b >= 0 else 0.0
        return out


def aligned_labels(model: Matrix, against: Matrix | None) -> list[str]:
    """The model's classes, then any only the other version knows."""
    extra = [n for n in against.labels if n not in model.labels] if against else []
    return model.labels + extra


def change(model: Matrix, against: Matrix, labels: list[str]) -> np.ndarray:
    """(K, K) percentage points of each true class: model's rate minus against's."""
    return 100.0 * (model.rates(labels) - against.rates(labels))


def improvement(delta: np.ndarray) -> np.ndarray:
    """``delta`` signed so that positive is better: more on the diagonal, less off it."""
    sign = -np.ones_like(delta)
    np.fill_diagonal(sign, 1.0)
    return delta * sign
