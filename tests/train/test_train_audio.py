"""`flywheel train` on real spoken words (espeak-ng clips): it runs and registers."""

from __future__ import annotations

import json
import shutil

import pytest

from flywheel.lake import Lake
from flywheel.sample_data import SPOKEN_WORDS
from tests.train.conftest import ingest_folder, run_cli

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def test_speech_model_trains_on_spoken_words(ray_cluster: None, spoken_folder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = ingest_folder(tmp_path / "root", spoken_folder, modality="audio")
    code, out, err = run_cli(settings, "train", "--epochs", "2", "--batch-size", "8")
    assert code == 0, err
    (row,) = Lake(settings).read("models").to_pylist()
    assert (row["version"], row["modality"], row["arch"]) == ("m0001", "audio", "speech-cnn")
    assert sorted(row["class_names"]) == sorted(SPOKEN_WORDS)
    assert json.loads(row["holdout"])["kind"] == "hash_slice" and row["n_eval"] > 0
    assert out.splitlines()[-1].startswith("m0001 (promoted): accuracy ")
