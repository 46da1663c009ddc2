"""Images: decode with Pillow, reject what a model cannot learn from.

Checks, in order (each one a ``Rejected.reason``):

- ``undecodable``: Pillow cannot identify or decode the bytes.
- ``truncated``: the header is readable but the pixel data ends early.
- ``too_small``: the shorter side has fewer than ``min_side`` pixels.

Networks (``archs``; the input spec of each is in ``_SPECS``):

- ``small-cnn`` (default): three conv blocks on 28x28 grayscale, for digits and
  MNIST-size images (8x8 digits are upscaled).
- ``tiny-cnn``: the same on 8x8 grayscale, the digits' own size.
- ``efficientnet-lite0``: EfficientNet-Lite0 on 224x224 RGB with ImageNet weights, for
  real photos and transfer learning.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from flywheel.errors import ConfigError
from flywheel.modalities.base import MediaFacts, Modality, Rejected

if TYPE_CHECKING:
    import torch

    from flywheel.networks import Classifier

# Pillow reports a short read with an OSError whose message says so; every other
# decoding failure is "undecodable".
_TRUNCATION_WORDS = ("truncated", "incomplete")

# arch -> input spec: size [H, W] in pixels, channels (1: grayscale "L", 3: "RGB"), and
# the per-channel mean and std that normalise [0, 1] pixel values.
_LITE_MEAN, _LITE_STD = 127.0 / 255.0, 128.0 / 255.0  # TF Lite's (pixel - 127) / 128
_SPECS: dict[str, dict[str, Any]] = {
    "small-cnn": {"size": [28, 28], "channels": 1, "mean": [0.5], "std": [0.5]},
    "tiny-cnn": {"size": [8, 8], "channels": 1, "mean": [0.5], "std": [0.5]},
    "efficientnet-lite0": {
        "size": [224, 224],
        "channels": 3,
        "mean": [_LITE_MEAN] * 3,
        "std": [_LITE_STD] * 3,
    },
}


class ImageModality(Modality):
    """Still images in any format Pillow reads (PNG, JPEG, GIF, WebP, ...).

    >>> ImageModality().quality_checks
    ('undecodable', 'truncated', 'too_small')
    """

    name = "image"
    mime_prefixes = ("image/",)
    quality_checks = ("undecodable", "truncated", "too_small")
    archs = ("small-cnn", "tiny-cnn", "efficientnet-lite0")

    def __init__(self, min_side: int = 8) -> None:
        if min_side < 1:
            raise ConfigError(f"min_side must be >= 1 pixel, got {min_side}")
        self.min_side = min_side  # pixels

    def inspect(self, data: bytes, mime: str) -> MediaFacts:
        """Decode every pixel (``load()``, so a short file fails here, not later) and
        return width and height in pixels and channels = bands of the decoded mode
        (L: 1, LA: 2, RGB: 3, RGBA: 4; a palette image P counts 1)."""
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                width, height = img.size
                channels = len(img.getbands())
        except UnidentifiedImageError:
            raise Rejected(
                "undecodable", f"Pillow cannot identify an image format ({mime})"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as err:
            message = str(err)
            if isinstance(err, OSError) and any(w in message.lower() for w in _TRUNCATION_WORDS):
                raise Rejected("truncated", message) from None
            raise Rejected("undecodable", f"Pillow cannot decode it ({mime}): {message}") from None
        if min(width, height) < self.min_side:
            raise Rejected(
                "too_small", f"{width}x{height} pixels; the shorter side must be >= {self.min_side}"
            )
        return MediaFacts(width=width, height=height, channels=channels)

    def input_spec(self, arch: str | None = None) -> dict[str, Any]:
        """The input of ``arch`` (default: the first of ``archs``), JSON-able.

        >>> ImageModality().input_spec("tiny-cnn")["size"]
        [8, 8]
        """
        arch = self.resolve_arch(arch)
        return {"modality": self.name, "arch": arch, **_SPECS[arch]}

    def input_shape(self, spec: Mapping[str, Any] | None = None) -> tuple[int, int, int]:
        """(channels, H, W) of the spec's size.

        >>> ImageModality().input_shape()
        (1, 28, 28)
        """
        spec = spec if spec is not None else self.input_spec()
        height, width = spec["size"]
        return (int(spec["channels"]), int(height), int(width))

    def to_tensor(self, data: bytes, spec: Mapping[str, Any] | None = None) -> torch.Tensor:
        """Decode, convert to the spec's bands, resize (bilinear) to its [H, W] and
        normalise: float32 (C, H, W)."""
        import torch

        spec = spec if spec is not None else self.input_spec()
        height, width = spec["size"]
        try:
            with Image.open(io.BytesIO(data)) as opened:
                img = opened.convert("L" if spec["channels"] == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.float32) / 255.0  # (H, W) or (H, W, 3)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
            raise Rejected("undecodable", f"Pillow cannot decode it: {err}") from None
        chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)  # (C, H, W)
        mean = np.asarray(spec["mean"], dtype=np.float32)[:, None, None]
        std = np.asarray(spec["std"], dtype=np.float32)[:, None, None]
        return torch.from_numpy(np.ascontiguousarray((chw - mean) / std))

    def build_model(
        self,
        num_classes: int,
        arch: str | None = None,
        pretrained: bool | None = None,
        freeze_backbone: bool = False,
    ) -> Classifier:
        """A small CNN, or EfficientNet-Lite0 (ImageNet weights unless
        ``pretrained=False``). The small CNNs have no pretrained weights."""
        arch = self.resolve_arch(arch)
        model: Classifier
        if arch == "efficientnet-lite0":
            from flywheel.networks import EfficientNetLite0, load_imagenet_weights

            model = EfficientNetLite0(num_classes)
            if pretrained is not False:
                load_imagenet_weights(model)
        else:
            from flywheel.networks import SmallConvNet

            if pretrained:
                raise ConfigError(f"{arch} has no pretrained weights; leave pretrained unset")
            # 28x28 -> three blocks -> 3x3 grid; 8x8 -> two blocks -> 2x2 grid.
            widths, grid = ((32, 64, 64), 3) if arch == "small-cnn" else ((32, 64), 2)
            model = SmallConvNet(1, num_classes, widths=widths, grid=grid)
        if freeze_backbone:
            model.freeze_backbone()
        return model
