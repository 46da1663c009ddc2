"""`flywheel select --strategy kcenter` on a real lake treats what is already labelled
as covered: a tight cluster whose members are mostly labelled gets no pick, while the
same lake without those labels gets one (the cluster is far from every digit)."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import TABLE_SCHEMAS, Lake, sql
from flywheel.score import ScoreConfig, score

pytestmark = pytest.mark.usefixtures("ray_cluster")
CLUSTER = 12  # near-identical checkerboards: one tight cluster far from the digits
LABELLED = 8  # of them labelled; the other 4 stay in the pool, unlabelled
BUDGET = 40  # of about 300 pool samples


def _checkerboards(dest: Path) -> list[str]:
    """``CLUSTER`` 8x8 checkerboards, each with one pixel nudged (distinct bytes, so
    distinct samples); returns their sample ids (content hashes)."""
    dest.mkdir(parents=True)
    board = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    ids = []
    for i in range(CLUSTER):
        pixels = board.copy()
        pixels[i // 8, i % 8] = 128
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        (dest / f"board{i:02d}.png").write_bytes(buf.getvalue())
        ids.append(hashlib.sha256(buf.getvalue()).hexdigest())
    return ids


@pytest.fixture(scope="module")
def lake_with_cluster(tmp_path_factory, digits_folder) -> tuple[Settings, list[str]]:  # type: ignore[no-untyped-def]
    """Digits and the cluster ingested, m0001 trained on the weak labels, pool scored."""
    base = tmp_path_factory.mktemp("centres")
    settings = Settings.from_env(root=base / "root", environ={})
    cluster = _checkerboards(base / "boards")
    for source in (digits_folder.root, base / "boards"):
        ingest(settings, IngestConfig(str(source), digits_folder.taxonomy, progress=False))
    code = main(["--root", str(settings.root), "train", "--epochs", "2", "--workers", "1",
                 "--batch-size", "16", "--lr", "3e-3"])  # fmt: skip
    assert code == 0
    summary = score(settings, ScoreConfig(batch_size=64, mc_passes=0))
    assert summary.scored == summary.pool > 0
    return settings, cluster


def _kcenter_picks(settings: Settings, seed: int) -> set[str]:
    code = main(["--root", str(settings.root), "select", "--strategy", "kcenter",
                 "--budget", str(BUDGET), "--seed", str(seed)])  # fmt: skip
    assert code == 0
    rows = sql(
        "select sample_id from selections where round = (select max(round) from selections)",
        settings,
    )
    return set(rows.column("sample_id").to_pylist())


def _labels(sample_ids: list[str]) -> pa.Table:
    """Consolidated labels for ``sample_ids``, as the export writes them."""
    now = datetime.now(UTC)
    fixed = {"label": "zero", "kind": "label", "method": "single", "queue": "digits",
             "votes": [("zero", 1)], "agreement": 1.0, "confidence": 1.0, "n_answers": 1,
             "decided_at": now}  # fmt: skip
    rows = [
        {"label_id": i + 1, "sample_id": s, "task_id": i + 1, **fixed}
        for i, s in enumerate(sample_ids)
    ]
    return pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS["labels"])


def test_kcenter_picks_nothing_next_to_labelled_samples(
    lake_with_cluster: tuple[Settings, list[str]],
) -> None:
    settings, cluster = lake_with_cluster
    seeds = range(3)
    blind = [_kcenter_picks(settings, seed) & set(cluster) for seed in seeds]
    assert all(blind), "without labels, k-center should cover the far cluster"
    assert all(len(b) == 1 for b in blind)  # one centre covers a tight cluster

    Lake(settings).commit("labels", _labels(cluster[:LABELLED]), {})
    unlabelled = set(cluster[LABELLED:])
    for seed in seeds:
        picks = _kcenter_picks(settings, seed)
        assert len(picks) == BUDGET and not picks & set(cluster), seed
    # the cluster's unlabelled members were eligible: scored, in the pool, not known
    scored = set(sql("select sample_id from predictions", settings)["sample_id"].to_pylist())
    assert unlabelled <= scored
