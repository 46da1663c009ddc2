"""Ingest on a real local Ray cluster with the embedded SQLite catalog, on real data."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

import flywheel
from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _ingest(settings: Settings, folder, **kw) -> flywheel.ingest.IngestSummary:  # type: ignore[no-untyped-def]
    config = IngestConfig(source=str(folder.root), taxonomy=folder.taxonomy, progress=False, **kw)
    return ingest(settings, config)


def test_digits_folder_gives_the_expected_counts_twice_in_a_row(settings, digits_folder) -> None:  # type: ignore[no-untyped-def]
    first = _ingest(settings, digits_folder)
    assert first.files == digits_folder.n_files
    assert first.new == digits_folder.expected_new_samples
    assert first.already_present == 0
    assert first.duplicates == digits_folder.expected_duplicates
    assert dict(first.quarantined) == digits_folder.expected_quarantine
    assert first.quarantine_new == sum(digits_folder.expected_quarantine.values())
    assert first.weak_labelled == digits_folder.expected_weak_labelled
    assert first.ambiguous == digits_folder.expected_ambiguous
    assert first.mime_mismatch == digits_folder.expected_mismatched

    lake = Lake(settings)
    before = lake.snapshot_ids()
    second = _ingest(settings, digits_folder)
    assert second.new == 0
    assert second.already_present == digits_folder.expected_new_samples
    assert dict(second.quarantined) == digits_folder.expected_quarantine
    assert second.quarantine_new == 0
    assert lake.snapshot_ids() == before  # nothing written at all
    assert lake.read("samples").num_rows == digits_folder.expected_new_samples


def test_rows_carry_weak_labels_types_and_facts(settings, digits_folder) -> None:  # type: ignore[no-untyped-def]
    _ingest(settings, digits_folder)
    samples = Lake(settings).read("samples")
    rows = {r["source_ref"]: r for r in samples.to_pylist()}
    assert all(r["modality"] == "image" for r in rows.values())
    assert all(r["width"] == 8 and r["height"] == 8 for r in rows.values())
    # Weak labels are the taxonomy's classes; "tag:" rules name the matching tag.
    labelled = [r for r in rows.values() if r["weak_label"] is not None]
    assert all(r["weak_label_rule"].startswith("tag:") for r in labelled)
    # PNG bytes named .jpg: kept, mime from the bytes, flagged.
    mismatched = [r for r in rows.values() if r["mime_mismatch"]]
    assert len(mismatched) == digits_folder.expected_mismatched
    assert all(r["mime"] == "image/png" and r["source_path"].endswith(".jpg") for r in mismatched)
    # sample_id is the content hash: equal bytes, one row.
    assert pc.count_distinct(samples.column("sample_id")).as_py() == samples.num_rows


def test_quarantine_rows_have_reason_ref_and_hash(settings, digits_folder) -> None:  # type: ignore[no-untyped-def]
    _ingest(settings, digits_folder)
    rows = Lake(settings).read("quarantine").to_pylist()
    assert len(rows) == sum(digits_folder.expected_quarantine.values())
    for r in rows:
        assert r["reason"] and r["source_ref"] and len(r["content_hash"]) == 64


def test_spoken_words_give_the_expected_counts(settings, spoken_folder) -> None:  # type: ignore[no-untyped-def]
    summary = _ingest(settings, spoken_folder, modality="audio")
    assert summary.new == spoken_folder.expected_new_samples
    assert dict(summary.quarantined) == spoken_folder.expected_quarantine
    assert summary.weak_labelled == spoken_folder.expected_weak_labelled
    rows = Lake(settings).read("samples").to_pylist()
    assert all(r["modality"] == "audio" and r["sample_rate"] > 0 for r in rows)
    assert all(0.1 < r["duration_s"] < 5 for r in rows)


def test_forced_modality_quarantines_the_other_kind(settings, spoken_folder) -> None:  # type: ignore[no-untyped-def]
    summary = _ingest(settings, spoken_folder, modality="image")
    assert summary.new == 0
    assert summary.quarantined["wrong_modality"] >= spoken_folder.expected_new_samples


def test_large_media_live_beside_the_tables(settings, digits_folder) -> None:  # type: ignore[no-untyped-def]
    summary = _ingest(settings, digits_folder, inline_max_bytes=0)
    rows = Lake(settings).read("samples", columns=["sample_id", "media", "media_uri"]).to_pylist()
    assert summary.new == len(rows)
    for r in rows:
        assert r["media"] is None
        assert (
            r["media_uri"].startswith(settings.media_prefix()) and r["sample_id"] in r["media_uri"]
        )
    import hashlib

    from flywheel.lake.storage import read_bytes

    r = rows[0]
    assert hashlib.sha256(read_bytes(r["media_uri"], settings.s3)).hexdigest() == r["sample_id"]


def test_sql_answers_over_the_tables(settings, digits_folder) -> None:  # type: ignore[no-untyped-def]
    _ingest(settings, digits_folder)
    n = flywheel.sql("select count(*) as n from samples where split = 'pool'", settings)
    assert n.column("n")[0].as_py() == digits_folder.expected_new_samples
    by_reason = flywheel.sql(
        "select reason, count(*) as n from quarantine group by reason", settings
    ).to_pylist()
    assert {r["reason"]: r["n"] for r in by_reason} == digits_folder.expected_quarantine


def test_audio_check_flags_reach_the_workers(settings, spoken_folder, capsys) -> None:  # type: ignore[no-untyped-def]
    """--audio-edge-rise-db is passed to every Ray worker's checks: at 80 dB the planted
    cut-off clip is kept; a bad value is one line, before anything is written."""
    import flywheel.cli

    root = ["--root", str(settings.root)]
    args = ["ingest", str(spoken_folder.root), "--taxonomy", str(spoken_folder.taxonomy),
            "--modality", "audio", "--no-progress"]  # fmt: skip
    assert flywheel.cli.main([*root, *args, "--audio-edge-rise-db", "0"]) != 0
    assert "edge_rise_db must be > 0" in capsys.readouterr().err
    assert Lake(settings).read("samples").num_rows == 0
    assert flywheel.cli.main([*root, *args, "--audio-edge-rise-db", "80"]) == 0
    reasons = Lake(settings).read("quarantine").column("reason").to_pylist()
    assert "cut_off" not in reasons and "near_silent" in reasons
    assert Lake(settings).read("samples").num_rows == spoken_folder.expected_new_samples + 1
