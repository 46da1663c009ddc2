"""What the gates evaluate on, and the predictions they compare.

- The evaluation set of a candidate: the samples and labels it was evaluated on when
  trained, read again at the snapshots its ``models`` row pins, with the same rule as
  ``flywheel.train.data`` (the test split, else the hash slice of the pool; the label
  of ``flywheel.lake.labels_at``: a sample's consolidated label, else its weak label).
- The regression gallery: every sample reported through feedback, with the expected
  label of its latest report.

Both are small (a test split and a list of field reports), so they are evaluated here,
in the controller's process, rather than as a Ray job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from flywheel.config import Settings
from flywheel.lake import Lake, among, equal, labels_at
from flywheel.modalities import get_modality
from flywheel.train import Checkpoint, in_holdout, load_checkpoint

_BATCH = 256  # samples per forward pass


@dataclass(frozen=True)
class Cases:
    """Samples with a reference label: ``sample_ids[i]`` should be ``labels[i]``."""

    sample_ids: list[str]
    labels: list[str]
    media: list[bytes]

    def __len__(self) -> int:
        return len(self.sample_ids)


def read_eval_set(lake: Lake, row: Mapping[str, Any]) -> Cases:
    """The evaluation set of the model ``row`` at the snapshots it was trained on."""
    snaps = json.loads(row["snapshot_ids"])
    holdout = json.loads(row["holdout"])
    where = "test" if holdout["kind"] == "test_split" else "pool"
    pinned = {"samples": snaps["samples"], "labels": snaps.get("labels")}
    labelled = labels_at(lake, pinned, row_filter=equal(split=where, modality=row["modality"]))
    if holdout["kind"] != "test_split":
        mask = in_holdout(labelled["sample_id"].to_pylist(), float(holdout["fraction"]))
        labelled = labelled.filter(pa.array(mask))
    ids, refs = labelled["sample_id"].to_pylist(), labelled["label"].to_pylist()
    return Cases(ids, refs, lake.media(ids, pinned))


def read_gallery(lake: Lake, modality: str) -> tuple[Cases, int | None]:
    """The regression gallery of ``modality`` now, and the feedback snapshot it is from."""
    snap = lake.current_snapshot_id("feedback")
    if snap is None:
        return Cases([], [], []), None
    reports = lake.read(
        "feedback", columns=["sample_id", "expected", "reported_at"], snapshot_id=snap
    )
    reports = reports.sort_by([("reported_at", "ascending")])
    expected = dict(
        zip(reports["sample_id"].to_pylist(), reports["expected"].to_pylist(), strict=True)
    )
    kinds = lake.read(
        "samples", columns=["sample_id", "modality"], row_filter=among("sample_id", expected)
    )
    ids = sorted(
        s
        for s, m in zip(kinds["sample_id"].to_pylist(), kinds["modality"].to_pylist(), strict=True)
        if m == modality
    )
    return Cases(ids, [expected[s] for s in ids], lake.media(ids)), snap


class Predictor:
    """One model version, loaded once, predicting class names for media."""

    def __init__(self, row: Mapping[str, Any], settings: Settings) -> None:
        self.version = str(row["version"])
        self.checkpoint: Checkpoint = load_checkpoint(row["checkpoint_uri"], settings)
        self.modality = get_modality(self.checkpoint.modality)

    @torch.inference_mode()
    def predict(self, media: Sequence[bytes]) -> list[str]:
        """The most probable class of each item."""
        names = np.asarray(self.checkpoint.class_names, dtype=object)
        model = self.checkpoint.model.eval()
        out: list[str] = []
        for start in range(0, len(media), _BATCH):
            x = self.modality.collate(media[start : start + _BATCH], self.checkpoint.input_spec)
            logits = model(x)  # (B, K)
            out.extend(names[logits.argmax(dim=1).numpy()].tolist())
        return out


def accuracy(predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Share of ``predicted`` equal to ``labels`` (0 for none).

    >>> accuracy(["a", "b", "b"], ["a", "b", "c"])
    0.6666666666666666
    """
    if not labels:
        return 0.0
    hits = pc.equal(pa.array(predicted, pa.string()), pa.array(labels, pa.string()))
    return float(pc.sum(hits).as_py() or 0) / len(labels)
