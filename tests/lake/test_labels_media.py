"""The one label rule (``labels_at``, ``labels_view_sql``) and the one media reader
(``Lake.media``), against real lakes: a local warehouse, a folder ingested through Ray,
and a warehouse and media objects on moto's S3 server."""

from __future__ import annotations

import doctest
import hashlib
import importlib
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

import flywheel
from flywheel.config import Settings
from flywheel.errors import FlywheelError, NotFoundError, StorageError
from flywheel.lake import TABLE_SCHEMAS, Lake, labels_at, labels_view_sql
from flywheel.lake.filters import equal
from flywheel.lake.media import MEDIA_COLUMNS, media_batches
from flywheel.sample_data import DigitsFolder
from tests.services import S3Info

A, B, C, D, E = (f"{i:064x}" for i in range(1, 6))


def _samples(rows: list[tuple[str, str | None, bytes | None, str | None]]) -> pa.Table:
    """``samples`` rows: (id, weak label, inline bytes, media_uri); PNG images."""
    n, now = len(rows), datetime.now(UTC)
    data = {
        "sample_id": [r[0] for r in rows], "modality": ["image"] * n, "mime": ["image/png"] * n,
        "mime_mismatch": [False] * n, "source": ["test"] * n, "source_ref": [r[0] for r in rows],
        "source_path": ["/x"] * n, "tags": [[] for _ in rows], "weak_label": [r[1] for r in rows],
        "weak_label_rule": [None] * n, "split": ["pool"] * (n - 1) + ["test"],
        "media": [r[2] for r in rows], "media_uri": [r[3] for r in rows], "size_bytes": [10] * n,
        "width": [None] * n, "height": [None] * n, "channels": [None] * n,
        "duration_s": [None] * n, "sample_rate": [None] * n, "ingest_run": ["r"] * n,
        "ingested_at": [now] * n,
    }  # fmt: skip
    return pa.Table.from_pydict(data, schema=TABLE_SCHEMAS["samples"])


def _labels(rows: list[tuple[int, str, str, str]]) -> pa.Table:
    """``labels`` rows: (label_id, sample id, label, kind)."""
    now = datetime.now(UTC)
    out = []
    for i, s, label, kind in rows:
        row = {"label_id": i, "sample_id": s, "label": label, "kind": kind, "method": "single"}
        row |= {"queue": "q", "task_id": None, "votes": [(label, 1)], "agreement": 1.0}
        row |= {"confidence": 1.0, "n_answers": 1, "decided_at": now}
        out.append(row)
    return pa.Table.from_pylist(out, schema=TABLE_SCHEMAS["labels"])


def _by_id(table: pa.Table) -> dict[str, tuple[str, str, str | None]]:
    return {
        r["sample_id"]: (r["label"], r["label_source"], r["label_kind"]) for r in table.to_pylist()
    }


@pytest.fixture
def lake(settings: Settings) -> Lake:
    """A: weak cat; B: weak dog, decided cow; C: no label; D: decided eel by verify
    (the last sample, D, is in the test split)."""
    lake = Lake(settings)
    rows = [(A, "cat", b"a", None), (B, "dog", b"b", None), (C, None, b"c", None)]
    lake.commit("samples", _samples([*rows, (D, None, b"d", None)]), {})
    lake.commit("labels", _labels([(1, B, "cow", "label"), (2, D, "eel", "verify")]), {})
    return lake


def test_consolidated_wins_over_weak_and_weak_is_the_fallback(lake: Lake) -> None:
    got = labels_at(lake, columns=["split", "weak_label"])
    assert _by_id(got) == {
        A: ("cat", "weak", None),
        B: ("cow", "consolidated", "label"),
        D: ("eel", "consolidated", "verify"),
    }  # C has neither label: no row
    assert got.column_names == [
        "sample_id", "label", "label_source", "label_kind", "split", "weak_label"
    ]  # fmt: skip
    assert got.column("weak_label").to_pylist() == ["cat", "dog", None]  # kept as ingested
    only_test = labels_at(lake, row_filter=equal(split="test"))
    assert only_test.column("sample_id").to_pylist() == [D]


def test_the_sql_view_is_the_same_rule(lake: Lake) -> None:
    view = flywheel.sql(labels_view_sql(), lake.settings)
    assert _by_id(view) == _by_id(labels_at(lake))
    assert view.column_names == list(labels_at(lake).column_names)


def test_a_lake_snapshot_sees_the_labels_and_samples_it_had(lake: Lake) -> None:
    before = lake.snapshot_ids()
    lake.commit("labels", _labels([(3, A, "dog", "gold")]), {})  # decided after the snapshot
    lake.commit("samples", _samples([(E, "cat", b"e", None)]), {})  # ingested after it
    then = _by_id(labels_at(lake, before))
    assert then == {
        A: ("cat", "weak", None),
        B: ("cow", "consolidated", "label"),
        D: ("eel", "consolidated", "verify"),
    }
    now = _by_id(labels_at(lake))
    assert now[A] == ("dog", "consolidated", "gold") and now[E] == ("cat", "weak", None)
    # A model trained before any label was exported pins labels to None: weak labels only.
    weak_only = _by_id(labels_at(lake, {**before, "labels": None}))
    assert weak_only == {A: ("cat", "weak", None), B: ("dog", "weak", None)}


def test_the_latest_decision_wins_in_a_snapshot_with_several(settings: Settings) -> None:
    # Lakes written before state tables kept a row per decision; a model may pin one.
    lake = Lake(settings)
    lake.commit("samples", _samples([(A, "cat", b"a", None), (B, None, b"b", None)]), {})
    lake.table("labels").append(_labels([(5, A, "dog", "label"), (9, A, "eel", "gold")]))
    assert _by_id(labels_at(lake, lake.snapshot_ids())) == {A: ("eel", "consolidated", "gold")}


def test_media_returns_the_ingested_bytes_in_the_order_asked(
    tmp_path: Path,
    digits_folder: DigitsFolder,
    ray_cluster: None,
) -> None:
    from flywheel.ingest import IngestConfig, ingest

    settings = Settings.from_env(root=tmp_path / "root", environ={})
    config = IngestConfig(
        str(digits_folder.root), digits_folder.taxonomy, inline_max_bytes=123, progress=False
    )
    ingest(settings, config)
    lake = Lake(settings)
    rows = lake.read("samples", columns=["sample_id", "media_uri"]).to_pylist()
    objects = [r["sample_id"] for r in rows if r["media_uri"]]
    inline = [r["sample_id"] for r in rows if not r["media_uri"]]
    assert objects and inline  # both kinds of storage are read
    asked = [objects[0], inline[0], objects[-1], inline[-1], objects[0]]
    got = lake.media(asked)
    # A sample's id is the sha256 of the bytes ingested: these are those bytes.
    assert [hashlib.sha256(b).hexdigest() for b in got] == asked
    assert lake.media([]) == []


def test_media_at_a_snapshot_and_only_the_rows_asked(lake: Lake) -> None:
    before = lake.snapshot_ids()
    lake.commit("samples", _samples([(E, "cat", b"e", None)]), {})
    assert lake.media([D, A, C], before) == [b"d", b"a", b"c"]
    assert lake.media([E, A]) == [b"e", b"a"]
    with pytest.raises(
        NotFoundError, match=f"1 sample is not in the lake's samples table at snapshot .*{E}"
    ):
        lake.media([A, E], before)
    batches = list(media_batches(lake, [B, E]))
    assert sorted(s for b in batches for s in b.column("sample_id").to_pylist()) == [B, E]
    assert all(b.schema.names == list(MEDIA_COLUMNS) for b in batches)  # no other column


def test_unknown_ids_are_a_clear_flywheel_error(lake: Lake) -> None:
    unknown = [f"{i:064x}" for i in range(100, 105)]
    with pytest.raises(NotFoundError) as err:
        lake.media([A, *unknown])
    assert isinstance(err.value, FlywheelError) and isinstance(err.value, LookupError)
    assert str(err.value) == (
        f"5 samples are not in the lake's samples table: {unknown[0]}, {unknown[1]}, "
        f"{unknown[2]} and 2 more"
    )


def test_media_on_s3_objects_and_a_missing_object(
    s3: S3Info, s3_bucket: str, tmp_path: Path
) -> None:
    env = {"FLYWHEEL_WAREHOUSE": f"s3://{s3_bucket}/flywheel", **s3.env()}
    settings = Settings.from_env(root=tmp_path / "root", environ=env)
    big = bytes(range(256)) * 40
    key = "flywheel/media/big.bin"
    boto3.client("s3", **s3.client_kwargs()).put_object(Bucket=s3_bucket, Key=key, Body=big)
    gone = f"s3://{s3_bucket}/flywheel/media/gone.bin"
    rows = [
        (A, "cat", None, f"s3://{s3_bucket}/{key}"),
        (B, None, b"inline", None),
        (C, None, None, gone),
    ]
    lake = Lake(settings)
    lake.commit("samples", _samples(rows), {})
    assert lake.media([B, A]) == [b"inline", big]
    with pytest.raises(StorageError, match=f"cannot read the media of sample {C}"):
        lake.media([C])


@pytest.mark.parametrize(
    "name", ["flywheel.lake.labels", "flywheel.lake.lake", "flywheel.lake.storage"]
)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), verbose=False)
    assert result.failed == 0 and result.attempted > 0


def test_the_rule_in_arrow_matches_the_rule_written_out_on_chunked_tables() -> None:
    """``with_labels`` on many samples, several decisions per sample, tables in several
    chunks: each row is what the rule says, written out here in plain Python."""
    import random

    from flywheel.lake.labels import with_labels

    rng = random.Random(7)
    ids = [f"s{i}" for i in range(400)]
    weak = [rng.choice(["cat", "dog", None]) for _ in ids]
    samples = pa.table({"sample_id": ids, "weak_label": pa.array(weak, pa.string())})
    samples = pa.concat_tables([samples.slice(0, 150), samples.slice(150)])
    decisions = [
        (
            label_id,
            f"s{rng.randrange(450)}",
            rng.choice(["cow", "cat"]),
            rng.choice(["label", "gold"]),
        )
        for label_id in rng.sample(range(10_000), 300)
    ]
    cols = list(zip(*decisions, strict=True))
    consolidated = pa.table(
        {"label_id": pa.array(cols[0], pa.int64()), "sample_id": list(cols[1]),
         "label": list(cols[2]), "kind": list(cols[3])}
    )  # fmt: skip
    consolidated = pa.concat_tables([consolidated.slice(0, 100), consolidated.slice(100)])
    latest: dict[str, tuple[int, str, str]] = {}
    for label_id, sid, label, kind in decisions:
        if sid not in latest or label_id > latest[sid][0]:
            latest[sid] = (label_id, label, kind)
    want = []
    for sid, w in zip(ids, weak, strict=True):
        if sid in latest:
            want.append({"sample_id": sid, "label": latest[sid][1],
                         "label_source": "consolidated", "label_kind": latest[sid][2]})  # fmt: skip
        elif w is not None:
            want.append({"sample_id": sid, "label": w, "label_source": "weak", "label_kind": None})
    got = with_labels(samples, consolidated).select(
        ["sample_id", "label", "label_source", "label_kind"]
    )
    assert got.to_pylist() == want
    assert 50 < sum(r["label_source"] == "consolidated" for r in want) < len(want)
