"""Build a strategies ``Pool`` from the lake: pool samples, and the arrays of one
model version's predictions that the strategy reads (and nothing more)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import And

from flywheel.config import Settings
from flywheel.lake import Lake, among, equal
from flywheel.strategies import Pool


def pool_samples(
    lake: Lake, modality: str | None, sample_ids: Sequence[str] | None = None
) -> pa.Table:
    """sample_id, weak_label of every pool sample (of ``modality`` when given; only
    those of ``sample_ids`` when given, read by the scan's filter, not after it)."""
    where = equal(split="pool", **({"modality": modality} if modality else {}))
    if sample_ids is not None:
        where = And(where, among("sample_id", sample_ids))
    return lake.read("samples", columns=["sample_id", "weak_label"], row_filter=where)


def predictions(lake: Lake, version: str, columns: Sequence[str]) -> pa.Table:
    """The newest prediction per sample of ``version`` (a sample is scored once per
    version; re-scoring after a crash cannot double it, but be safe)."""
    cols = ["sample_id", "scored_at", *[c for c in columns if c != "sample_id"]]
    table = lake.read("predictions", columns=cols, row_filter=equal(model_version=version))
    if table.num_rows == 0:
        return table
    table = table.sort_by([("sample_id", "ascending"), ("scored_at", "descending")])
    ids = table.column("sample_id").to_numpy(zero_copy_only=False)
    first = np.ones(len(ids), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    return table.filter(pa.array(first))


def known_sample_ids(lake: Lake, settings: Settings) -> set[str]:
    """Samples already labelled (the lake's labels) or queued (the queue database)."""
    from flywheel.db import open_engine
    from flywheel.queue import queued_sample_ids

    known = set(lake.read("labels", columns=["sample_id"]).column("sample_id").to_pylist())
    engine = open_engine(settings.catalog_uri)
    try:
        known.update(queued_sample_ids(engine))
    finally:
        engine.dispose()
    return known


def build_pool(
    samples: pa.Table, preds: pa.Table | None, needs: Sequence[str], class_names: Sequence[str]
) -> tuple[Pool, pa.Table]:
    """(Pool, the pool's rows in Pool order). When the strategy reads model outputs,
    the pool is the samples that have them; otherwise every pool sample."""
    if preds is not None and needs:
        samples = samples.filter(
            pc.is_in(samples.column("sample_id"), value_set=preds.column("sample_id"))
        )
    samples = samples.sort_by("sample_id")
    arrays: dict[str, Any] = {}
    if preds is not None and needs:
        aligned = preds.take(
            pc.index_in(samples.column("sample_id"), value_set=preds.column("sample_id"))
        )
        n, c = aligned.num_rows, len(class_names)
        if "probs" in needs:
            arrays["probs"] = _matrix(aligned.column("probs"), n)  # (N, C)
        if "embeddings" in needs:
            arrays["embeddings"] = _matrix(aligned.column("embedding"), n)  # (N, D)
        if "mc_probs" in needs and aligned.column("mc_probs").null_count == 0:
            mc = _matrix(aligned.column("mc_probs"), n)  # (N, T*C)
            arrays["mc_probs"] = mc.reshape(n, -1, c).transpose(1, 0, 2)  # (T, N, C)
    index = {name: i for i, name in enumerate(class_names)}
    weak = [
        index.get(w, -1) if w is not None else -1 for w in samples.column("weak_label").to_pylist()
    ]
    pool = Pool(
        sample_ids=samples.column("sample_id").to_numpy(zero_copy_only=False),
        weak_labels=np.asarray(weak, dtype=np.int64),
        class_names=tuple(class_names),
        **arrays,
    )
    return pool, samples


def _matrix(column: pa.ChunkedArray, n: int) -> np.ndarray:
    """list<float32> column of n rows, all the same length -> (n, width) float32."""
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = pc.list_flatten(column.combine_chunks()).to_numpy(zero_copy_only=False)
    return flat.astype(np.float32, copy=False).reshape(n, -1)
