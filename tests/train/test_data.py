"""What training reads: the held-out slice, the test split, consolidated vs weak labels."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from flywheel.config import Settings
from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.sample_data import write_digits_folder
from flywheel.train.data import in_holdout, read_training_data
from tests.train.conftest import ingest_folder


def test_held_out_slice_is_deterministic_and_disjoint(digits_lake: Settings) -> None:
    lake = Lake(digits_lake)
    first = read_training_data(lake, None, weak_weight=0.3)
    second = read_training_data(lake, None, weak_weight=0.3)
    held = first.eval["sample_id"].to_pylist()
    assert held == second.eval["sample_id"].to_pylist()
    assert set(held).isdisjoint(first.train["sample_id"].to_pylist())
    assert first.holdout["kind"] == "hash_slice"
    share = len(held) / (len(held) + first.train.num_rows)
    assert 0.1 < share < 0.3  # the default fraction is 0.2
    assert in_holdout(held, 0.2).all()
    weights = first.train["weight"].to_numpy()
    assert (weights == np.float32(0.3)).all()  # no labels table yet: weak labels only


def _labels_rows(sample_ids: list[str], labels: list[str]) -> pa.Table:
    """Rows for the `labels` table: the given ids and labels, plain values elsewhere."""
    n = len(sample_ids)
    defaults = {
        pa.types.is_integer: lambda i: i + 1,
        pa.types.is_floating: lambda i: 1.0,
        pa.types.is_timestamp: lambda i: datetime.now(UTC),
        pa.types.is_map: lambda i: [],
        pa.types.is_string: lambda i: "label",
    }
    columns = {}
    for field in TABLE_SCHEMAS["labels"]:
        if field.name in ("sample_id", "label"):
            columns[field.name] = sample_ids if field.name == "sample_id" else labels
            continue
        make = next(f for test, f in defaults.items() if test(field.type))
        columns[field.name] = [make(i) for i in range(n)]
    return pa.Table.from_pydict(columns, schema=TABLE_SCHEMAS["labels"])


def test_test_split_is_the_eval_set_and_consolidated_labels_win(
    ray_cluster: None, tmp_path, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    pool_folder = write_digits_folder(tmp_path_factory.mktemp("digits-pool"), n=80, seed=2)
    settings = ingest_folder(tmp_path / "root", pool_folder)
    test_folder = write_digits_folder(tmp_path_factory.mktemp("digits-test"), n=40, seed=1)
    ingest_folder(tmp_path / "root", test_folder, split="test")
    lake = Lake(settings)
    samples = lake.read("samples", columns=["sample_id", "split", "weak_label"])
    pool = [r for r in samples.to_pylist() if r["split"] == "pool" and r["weak_label"]]
    relabelled = {r["sample_id"]: "zero" if r["weak_label"] != "zero" else "one" for r in pool[:5]}
    lake.commit("labels", _labels_rows(list(relabelled), list(relabelled.values())), {})

    data = read_training_data(lake, None, weak_weight=0.25)
    assert data.holdout["kind"] == "test_split"
    test_ids = {r["sample_id"] for r in samples.to_pylist() if r["split"] == "test"}
    assert set(data.eval["sample_id"].to_pylist()) <= test_ids
    assert set(data.train["sample_id"].to_pylist()).isdisjoint(test_ids)
    assert data.snapshot_ids["labels"] == lake.current_snapshot_id("labels") is not None
    rows = {r["sample_id"]: r for r in data.train.to_pylist()}
    for sample_id, label in relabelled.items():
        assert data.class_names[rows[sample_id]["label"]] == label
        assert rows[sample_id]["weight"] == 1.0
    others = [r["weight"] for s, r in rows.items() if s not in relabelled]
    assert set(others) == {np.float32(0.25)}
