"""The network contract on real inputs: every modality's architectures turn real bytes
into batches, logits and embeddings, support MC-dropout and head-only training; and
EfficientNet-Lite0 really carries the published ImageNet weights."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from flywheel.errors import ConfigError
from flywheel.modalities import Rejected, get_modality
from flywheel.networks import CheckpointError, Classifier, EfficientNetLite0, load_weights
from flywheel.networks.efficientnet_lite import imagenet_weights_path
from flywheel.sample_data import DigitsFolder, SampleFolder

SMALL_ARCHS = [("image", "small-cnn"), ("image", "tiny-cnn"), ("audio", "speech-cnn")]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def _items(folder: SampleFolder, n: int) -> tuple[list[bytes], list[str]]:
    rels = sorted(folder.truth)[:n]
    return [(folder.root / r).read_bytes() for r in rels], [folder.truth[r] for r in rels]


@pytest.mark.parametrize(
    ("modality", "arch"),
    [pytest.param(m, a, marks=needs_espeak if m == "audio" else ()) for m, a in SMALL_ARCHS],
)
def test_real_bytes_give_logits_embeddings_and_mc_dropout(
    modality: str, arch: str, request: pytest.FixtureRequest
) -> None:
    folder = request.getfixturevalue("digits_folder" if modality == "image" else "spoken_folder")
    plugin = get_modality(modality)
    spec = plugin.input_spec(arch)
    data, _ = _items(folder, 6)
    x = plugin.collate(data, spec)  # (B, C, H, W)
    assert x.dtype == torch.float32 and x.shape[0] == 6 and torch.isfinite(x).all()
    if modality == "image":
        assert tuple(x.shape[1:]) == (spec["channels"], *spec["size"])
    else:
        assert tuple(x.shape[1:]) == (1, spec["n_mels"], 101)  # 1 s at a 10 ms hop
    net = plugin.build_model(4, arch=arch).eval()
    logits, embedding = net.forward_with_embedding(x)
    assert logits.shape == (6, 4) and embedding.shape == (6, net.embedding_dim)
    assert torch.equal(net(x), logits)  # eval: deterministic
    net.mc_dropout()
    assert not torch.equal(net(x), net(x))  # MC-dropout: two passes differ
    assert not any(m.training for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_frozen_backbone_trains_only_the_head(digits_folder: DigitsFolder) -> None:
    plugin = get_modality("image")
    net = plugin.build_model(10, arch="tiny-cnn", freeze_backbone=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    data, _ = _items(digits_folder, 16)
    x, y = plugin.collate(data, plugin.input_spec("tiny-cnn")), torch.arange(16) % 10
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    net.train()
    F.cross_entropy(net(x), y).backward()
    optimizer.step()
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"fc.weight", "fc.bias"}  # batch-norm statistics stayed too


def test_unknown_arch_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid: small-cnn, tiny-cnn, efficientnet-lite0"):
        get_modality("image").build_model(3, arch="resnet-9000")


def test_undecodable_bytes_are_rejected_not_crashed() -> None:
    with pytest.raises(Rejected) as info:
        get_modality("image").to_tensor(b"\x89PNG\r\n\x1a\nnot really")
    assert info.value.reason == "undecodable"


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0:
    net = get_modality("image").build_model(1000, arch="efficientnet-lite0")
    assert isinstance(net, EfficientNetLite0)
    return net.eval()


def test_imagenet_weights_load_strictly(lite0: EfficientNetLite0) -> None:
    published = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    ours = lite0.state_dict()
    assert set(published) == set(ours)  # every tensor, no more, no fewer
    assert all(torch.equal(ours[k], v) for k, v in published.items())
    with pytest.raises(CheckpointError, match="does not fit SmallConvNet"):
        load_weights(get_modality("image").build_model(10), published, "lite0.pth")


def test_pretrained_features_recognise_a_real_photo(lite0: EfficientNetLite0) -> None:
    """scikit-learn's sample photo of a daisy: ImageNet class 985 is 'daisy'."""
    from sklearn.datasets import load_sample_image

    photo = Image.fromarray(load_sample_image("flower.jpg"))
    side = min(photo.size)
    left, top = (photo.width - side) // 2, (photo.height - side) // 2
    buf = io.BytesIO()
    photo.crop((left, top, left + side, top + side)).save(buf, format="PNG")
    plugin = get_modality("image")
    x = plugin.collate([buf.getvalue()], plugin.input_spec("efficientnet-lite0"))
    with torch.no_grad():
        assert int(lite0(x).argmax()) == 985


def test_fine_tune_the_head_of_pretrained_lite0_on_real_digits(
    digits_folder: DigitsFolder,
) -> None:
    """Transfer learning with the real ImageNet weights: frozen backbone, new 2-class
    head, a few real digits upscaled (to 64x64 here, to keep the CPU test short)."""
    plugin = get_modality("image")
    net = plugin.build_model(2, arch="efficientnet-lite0", freeze_backbone=True)
    assert isinstance(net, Classifier)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"_fc.weight", "_fc.bias"}
    rels = [r for r in sorted(digits_folder.truth) if digits_folder.truth[r] in ("zero", "one")]
    data = [(digits_folder.root / r).read_bytes() for r in rels[:24]]
    y = torch.tensor([int(digits_folder.truth[r] == "one") for r in rels[:24]])
    spec = {**plugin.input_spec("efficientnet-lite0"), "size": [64, 64]}
    x = plugin.collate(data, spec)  # (24, 3, 64, 64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    net.train()
    with torch.no_grad():
        features = net.embed(x)  # frozen backbone: the same features every step
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net.head(features), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"_fc.weight", "_fc.bias"}
    assert losses[-1] < 0.5 * losses[0]
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x).argmax(1) == y).float().mean())
    assert accuracy > 0.9, np.bincount(y.numpy())
