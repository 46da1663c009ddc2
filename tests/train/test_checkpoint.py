"""The checkpoint format: round trip through object storage, and clear errors."""

from __future__ import annotations

import pytest
import torch

from flywheel.config import Settings
from flywheel.errors import NotFoundError
from flywheel.modalities import get_modality
from flywheel.train import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint


def _checkpoint(classes: list[str], arch: str = "tiny-cnn") -> Checkpoint:
    net = get_modality("image").build_model(len(classes), arch=arch)
    return Checkpoint.for_model(net, "image", arch, classes, model_version="m0042")


def test_round_trip_keeps_weights_header_and_spec(settings: Settings) -> None:
    ckpt = _checkpoint(["cat", "dog", "eel"])
    uri = f"{settings.warehouse}/models/m0042/model.pt"
    save_checkpoint(ckpt, uri, settings)
    loaded = load_checkpoint(uri, settings, class_names=["cat", "dog", "eel"])
    assert (loaded.modality, loaded.arch, loaded.model_version) == ("image", "tiny-cnn", "m0042")
    assert loaded.input_spec == get_modality("image").input_spec("tiny-cnn")
    assert not loaded.model.training
    for key, value in ckpt.state_dict.items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


def test_weights_of_the_wrong_shape_are_a_clear_error(settings: Settings) -> None:
    ckpt = _checkpoint(["cat", "dog", "eel"])
    # The header claims two classes; the head holds three.
    lying = Checkpoint("image", "tiny-cnn", ("cat", "dog"), ckpt.input_spec, ckpt.state_dict)
    uri = f"{settings.warehouse}/models/bad/model.pt"
    save_checkpoint(lying, uri, settings)
    with pytest.raises(
        CheckpointError,
        match=r"does not fit SmallConvNet: 2 tensors of another shape \(e\.g\. fc\.bias\)",
    ):
        load_checkpoint(uri, settings)
    # Another architecture's weights under this header.
    other = Checkpoint("image", "small-cnn", ckpt.class_names, ckpt.input_spec, ckpt.state_dict)
    save_checkpoint(other, uri, settings)
    with pytest.raises(CheckpointError, match="missing tensors"):
        load_checkpoint(uri, settings)


def test_other_classes_missing_files_and_other_files_are_clear_errors(
    settings: Settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    uri = f"{settings.warehouse}/models/m1/model.pt"
    save_checkpoint(_checkpoint(["cat", "dog"]), uri, settings)
    with pytest.raises(
        CheckpointError, match=r"predicts \['cat', 'dog'\], expected \['dog', 'cat'\]"
    ):
        load_checkpoint(uri, settings, class_names=["dog", "cat"])
    with pytest.raises(NotFoundError, match="no checkpoint at"):
        load_checkpoint(f"{settings.warehouse}/models/m9/model.pt", settings)
    state_dict = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(2)}, state_dict)
    with pytest.raises(CheckpointError, match="is not a flywheel checkpoint"):
        load_checkpoint(str(state_dict), settings)
