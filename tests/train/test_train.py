"""`flywheel train` end to end on the real digits, on the session's real Ray cluster:
the model, its models row and checkpoint, the printed tables, transfer with --from,
and bad input that fails in one line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from flywheel.config import Settings
from flywheel.lake import TABLE_SCHEMAS, Lake
from flywheel.modalities import get_modality
from flywheel.networks.classifier import SmallConvNet
from flywheel.networks.efficientnet_lite import imagenet_weights_path
from flywheel.sample_data import DIGIT_NAMES
from flywheel.train import load_checkpoint
from flywheel.train.registry import Models
from flywheel.train.run import TrainConfig, prepare_run
from tests.train.conftest import TRAIN_FLAGS, TrainedLake, run_cli


def _row(settings: Settings, version: str) -> dict:  # type: ignore[type-arg]
    rows = Lake(settings).read("models", row_filter=f"version == '{version}'").to_pylist()
    assert len(rows) == 1
    return rows[0]


def _state(settings: Settings) -> tuple[dict[str, int | None], list[str]]:
    models_dir = Path(settings.root) / "warehouse" / "models"
    files = sorted(str(p) for p in models_dir.rglob("*")) if models_dir.exists() else []
    return Lake(settings).snapshot_ids(), files


def test_digits_model_beats_chance_and_registers_a_full_row(trained_digits: TrainedLake) -> None:
    assert trained_digits.exit_code == 0, trained_digits.stderr
    row = _row(trained_digits.settings, "m0001")
    assert row["accuracy"] > 0.5  # chance is 0.1 over ten classes
    assert set(TABLE_SCHEMAS["models"].names) <= set(row)
    assert all(row[k] is not None for k in TABLE_SCHEMAS["models"].names if k != "parent")
    assert (row["parent"], row["status"], row["reason"]) == (None, "promoted", "first model")
    assert (row["modality"], row["arch"]) == ("image", "small-cnn")
    assert sorted(row["class_names"]) == sorted(DIGIT_NAMES)
    assert json.loads(row["snapshot_ids"]) == trained_digits.snapshots_before
    # A path of the run's own: a run that loses the version cannot overwrite the winner's.
    assert row["checkpoint_uri"].endswith(f"/models/m0001/{row['run_id']}/model.pt")
    holdout = json.loads(row["holdout"])
    assert holdout["kind"] == "hash_slice" and holdout["n"] == row["n_eval"] > 20
    metrics = json.loads(row["metrics"])
    matrix = metrics["confusion"]["matrix"]
    assert metrics["confusion"]["labels"] == row["class_names"]
    assert sum(map(sum, matrix)) == row["n_eval"]
    assert sum(matrix[i][i] for i in range(10)) == round(row["accuracy"] * row["n_eval"])
    assert set(metrics["per_class"]) == set(row["class_names"])
    assert 0 <= row["ece"] < 1 and len(metrics["history"]) == 3
    assert json.loads(row["train_config"])["workers"] == 2


def test_printed_confusion_tables_are_labelled_with_class_names(
    trained_digits: TrainedLake,
) -> None:
    out = trained_digits.stdout.splitlines()
    epochs = [line for line in out if line.startswith("epoch ")]
    assert [e.split()[1] for e in epochs] == ["1/3", "2/3", "3/3"]
    headers = [line for line in out if line.startswith("true\\pred")]
    assert len(headers) == 1  # one line per epoch; the matrix once, at the end
    for name in DIGIT_NAMES:
        assert name in headers[-1].split()
        assert any(line.split()[0] == name for line in out)  # a labelled row
    assert "recall" in headers[-1]
    assert out[-1].startswith("m0001 (promoted): accuracy ")


def test_checkpoint_loads_and_gives_logits_and_embeddings(trained_digits: TrainedLake) -> None:
    settings = trained_digits.settings
    row = _row(settings, "m0001")
    ckpt = load_checkpoint(row["checkpoint_uri"], settings, class_names=row["class_names"])
    assert (ckpt.model_version, ckpt.arch) == ("m0001", "small-cnn")
    samples = Lake(settings).read("samples", columns=["media"]).slice(0, 5)
    x = get_modality(ckpt.modality).collate(samples["media"].to_pylist(), ckpt.input_spec)
    logits, embedding = ckpt.model.forward_with_embedding(x)
    assert logits.shape == (5, 10) and embedding.shape == (5, ckpt.model.embedding_dim)


def test_from_fine_tunes_the_parent_and_is_a_candidate(trained_digits: TrainedLake) -> None:
    settings = trained_digits.settings
    code, _, err = run_cli(
        settings, "train", "--from", "m0001", "--freeze-backbone", "--epochs", "1", *TRAIN_FLAGS
    )
    assert code == 0, err
    row = _row(settings, "m0002")
    assert (row["parent"], row["status"]) == ("m0001", "candidate")
    assert "m0001 stays promoted" in row["reason"]
    assert row["accuracy"] > 0.5  # the parent's features carried over
    parent = load_checkpoint(_row(settings, "m0001")["checkpoint_uri"], settings).model
    child = load_checkpoint(row["checkpoint_uri"], settings).model
    assert isinstance(parent, SmallConvNet) and isinstance(child, SmallConvNet)
    # Frozen backbone: identical conv weights and batch-norm statistics; a new head.
    for (name, a), b in zip(
        parent.features.state_dict().items(), child.features.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert not torch.equal(parent.fc.weight, child.fc.weight)


def test_unknown_from_version_is_one_line_and_writes_nothing(digits_lake: Settings) -> None:
    before = _state(digits_lake)
    code, out, err = run_cli(digits_lake, "train", "--from", "m0999")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("flywheel: error: model version 'm0999' does not exist")
    assert _state(digits_lake) == before


def test_a_class_without_data_is_a_clear_error(
    digits_lake: Settings, digits_folder, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    taxonomy = yaml.safe_load(digits_folder.taxonomy.read_text())
    taxonomy["classes"]["eleven"] = ["#eleven", "#11"]
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(taxonomy))
    before = _state(digits_lake)
    code, _, err = run_cli(digits_lake, "train", "--taxonomy", str(path))
    assert code == 2
    assert "class 'eleven' has no training data" in err and len(err.strip().splitlines()) == 1
    assert _state(digits_lake) == before


def test_init_checkpoint_of_the_wrong_shape_is_a_clear_error(
    digits_lake: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "other.pt"
    torch.save(SmallConvNet(1, 10, widths=(8,)).state_dict(), path)  # one block, not three
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    before = _state(digits_lake)
    code, _, err = run_cli(digits_lake, "train", "--init-checkpoint", str(path))
    assert code == 2
    assert f"{path} does not fit SmallConvNet" in err and "missing tensors" in err
    code, _, err = run_cli(digits_lake, "train", "--init-checkpoint", str(garbage))
    assert code == 2 and "is not a readable PyTorch file" in err
    assert _state(digits_lake) == before


def test_init_checkpoint_loads_imagenet_weights_into_the_backbone(digits_lake: Settings) -> None:
    """What `--init-checkpoint <the .pth> --arch efficientnet-lite0` starts from (the run
    itself is too slow for CPU tests; test_networks fine-tunes this model's head)."""
    config = TrainConfig(init_checkpoint=imagenet_weights_path(), arch="efficientnet-lite0")
    lake = Lake(digits_lake)
    start = prepare_run(lake, Models.read(lake), config)
    published = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    state = start.model.state_dict()
    assert start.arch == "efficientnet-lite0" and start.parent is None
    assert all(torch.equal(state[k], v) for k, v in published.items() if not k.startswith("_fc."))
    assert state["_fc.weight"].shape == (10, 1280)  # a new head for the ten digits


def test_a_seed_makes_training_repeatable(trained_digits: TrainedLake) -> None:
    """Same data, same --seed: the same weights (initial head, batch order, dropout masks
    are all seeded); another seed: other weights. (CPU, one worker.)"""
    settings = trained_digits.settings
    for seed in ("3", "3", "4"):
        code, _, err = run_cli(settings, "train", "--from", "m0001", "--epochs", "1",
                               "--seed", seed, *TRAIN_FLAGS)  # fmt: skip
        assert code == 0, err
    rows = sorted(Lake(settings).read("models").to_pylist(), key=lambda r: r["created_at"])[-3:]
    nets = [load_checkpoint(r["checkpoint_uri"], settings).model.state_dict() for r in rows]
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])
    assert rows[0]["accuracy"] == rows[1]["accuracy"]
    assert not all(torch.equal(nets[0][k], nets[2][k]) for k in nets[0])
