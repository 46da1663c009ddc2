"""What a training run learns from and is evaluated on, read from the lake at pinned
snapshots: ids, labels and weights only. The media stream from the lake to the
training workers through Ray Data (``flywheel.train.stream``); the driver never holds
them.

Labels: a sample's label by the lake's one rule (``flywheel.lake.labels_at``: its
consolidated label, else its weak label), with weight 1 when consolidated, else
``weak_weight``; samples with neither are not used. Evaluation: the labelled ``test`` split when one was ingested, else a
deterministic slice of the labelled pool chosen by a hash of ``sample_id`` (see
``in_holdout``); ``regression`` samples are never trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.errors import ConfigError
from flywheel.lake import CONSOLIDATED, Lake, equal, labels_at
from flywheel.train.errors import NoTrainingDataError

HOLDOUT_SALT = "flywheel-holdout-v1"


@dataclass(frozen=True)
class TrainingData:
    """Arrow tables of (sample_id, label, weight), no media: label an int32 index into
    ``class_names``, weight a float32 loss weight (1 for evaluation rows). The media are
    read from ``samples`` at ``snapshot_ids["samples"]`` as training streams."""

    modality: str
    class_names: tuple[str, ...]
    train: pa.Table
    eval: pa.Table
    holdout: dict[str, Any]  # describes the evaluation set, stored in the models row
    snapshot_ids: dict[str, int | None]  # {table: snapshot id} of every table read


def in_holdout(sample_ids: Sequence[str], fraction: float) -> np.ndarray:
    """(N,) bool: is each sample in the held-out slice? A pure function of the id, so a
    sample never moves between training and evaluation as the data grows.

    >>> in_holdout(["a", "b", "c", "d"], 0.5).tolist()
    [False, False, True, False]
    """
    keys = (hashlib.sha256(f"{HOLDOUT_SALT}:{s}".encode()).digest()[:8] for s in sample_ids)
    return np.fromiter((int.from_bytes(k, "big") / 2**64 < fraction for k in keys), bool)


def read_training_data(
    lake: Lake,
    modality: str | None,
    weak_weight: float,
    classes: Sequence[str] | None = None,
    base_classes: Sequence[str] = (),
    holdout_fraction: float = 0.2,
) -> TrainingData:
    """Read and split the labelled samples. ``classes`` fixes the class list (labels
    outside it are an error); otherwise it is ``base_classes`` (a parent model's, in
    its order) followed by any other labels, sorted. Every class needs training data."""
    snaps = {
        "samples": lake.current_snapshot_id("samples"),
        "labels": lake.current_snapshot_id("labels"),
    }
    present = lake.read("samples", columns=["modality"], snapshot_id=snaps["samples"])
    modality = _pick_modality(present, modality)
    labelled = labels_at(lake, snaps, columns=["split"], row_filter=equal(modality=modality))
    table = _weigh(labelled, weak_weight)
    test = pc.equal(table["split"], "test")
    if pc.any(test).as_py():
        train = table.filter(pc.equal(table["split"], "pool"))
        held = table.filter(test)
        holdout: dict[str, Any] = {"kind": "test_split", "n": held.num_rows}
    else:
        pool = table.filter(pc.equal(table["split"], "pool"))
        mask = pa.array(in_holdout(pool["sample_id"].to_pylist(), holdout_fraction))
        train, held = pool.filter(pc.invert(mask)), pool.filter(mask)
        holdout = {
            "kind": "hash_slice",
            "fraction": holdout_fraction,
            "rule": f"sha256('{HOLDOUT_SALT}:' + sample_id)[:8] / 2**64 < {holdout_fraction}",
            "n": held.num_rows,
            "reason": "no labelled test split was ingested",
        }
    holdout["consolidated_labels"] = int(pc.sum(held["consolidated"]).as_py() or 0)
    train = train.filter(pc.greater(train["weight"], 0.0))  # --weak-weight 0: labels only
    names = _class_names(train, held, classes, base_classes)
    _check_every_class_has_data(train, held, names)
    return TrainingData(
        modality=modality,
        class_names=names,
        train=_encode(train, names),
        eval=_encode(held, names, weighted=False),
        holdout=holdout,
        snapshot_ids=snaps,
    )


def _pick_modality(samples: pa.Table, modality: str | None) -> str:
    present = sorted(set(samples["modality"].to_pylist()))
    if not present:
        raise NoTrainingDataError("the samples table is empty; run `flywheel ingest` first")
    if modality is None:
        if len(present) > 1:
            raise ConfigError(
                f"the samples hold several modalities ({', '.join(present)}); "
                "choose one with --modality"
            )
        return present[0]
    if modality not in present:
        raise NoTrainingDataError(
            f"no {modality} samples in the lake (it holds {', '.join(present)}); "
            "choose another --modality or ingest some"
        )
    return modality


def _weigh(labelled: pa.Table, weak_weight: float) -> pa.Table:
    """Add weight (float32: 1 for a consolidated label, else ``weak_weight``) and
    consolidated (bool) to ``labels_at``'s rows."""
    is_gold = pc.equal(labelled["label_source"], CONSOLIDATED)
    weight = np.where(is_gold.to_numpy(zero_copy_only=False), 1.0, weak_weight)
    table = labelled.append_column("weight", pa.array(weight.astype(np.float32)))
    return table.append_column("consolidated", is_gold)


def _class_names(
    train: pa.Table, held: pa.Table, classes: Sequence[str] | None, base: Sequence[str]
) -> tuple[str, ...]:
    seen = set(train["label"].to_pylist()) | set(held["label"].to_pylist())
    if classes is not None:
        unknown = sorted(seen - set(classes))
        if unknown:
            raise ConfigError(
                f"labels {unknown} are not in the class list {list(classes)}; "
                "add them to the taxonomy"
            )
        return tuple(classes)
    return (*base, *sorted(seen - set(base)))


def _check_every_class_has_data(train: pa.Table, held: pa.Table, names: Sequence[str]) -> None:
    if held.num_rows == 0:
        raise NoTrainingDataError(
            "nothing to evaluate on: no labelled test sample and the held-out slice of the "
            "pool is empty; ingest a test split (--split test) or more labelled data"
        )
    counts = pc.value_counts(train["label"]).to_pylist()
    have = {c["values"]: c["counts"] for c in counts}
    empty = [n for n in names if not have.get(n)]
    if empty:
        raise NoTrainingDataError(
            f"class{'es' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
            f"ha{'ve' if len(empty) > 1 else 's'} no training data (0 labelled pool samples "
            f"of {train.num_rows}); label some, or drop the class from the taxonomy"
        )


def _encode(table: pa.Table, names: Sequence[str], weighted: bool = True) -> pa.Table:
    """-> (sample_id, label int32, weight float32)."""
    index = {n: i for i, n in enumerate(names)}
    weight = table["weight"] if weighted else pa.array(np.ones(table.num_rows, np.float32))
    return pa.table(
        {
            "sample_id": table["sample_id"],
            "label": pa.array([index[x] for x in table["label"].to_pylist()], pa.int32()),
            "weight": weight,
        }
    )
