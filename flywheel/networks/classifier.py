"""The network contract every modality's model meets, and the small conv net.

A ``Classifier`` is a backbone that maps a batch to its penultimate-layer embedding
and a head (dropout, then one linear layer) that maps the embedding to logits:

    x (B, C, H, W) --embed--> (B, D) --head--> logits (B, K)

Scoring reads both in one pass (``forward_with_embedding``) and runs MC-dropout by
switching only the dropout layers back to training mode (``mc_dropout``), so batch
norm keeps its running statistics while the passes differ.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

from flywheel.networks.errors import CheckpointError


class Classifier(nn.Module):
    """Base of flywheel's networks. Subclasses set ``embedding_dim`` and implement
    ``embed`` and ``head``; ``head_names`` are the child modules that make the head
    (what stays trainable when the backbone is frozen)."""

    embedding_dim: int
    head_names: tuple[str, ...] = ("dropout", "fc")

    def __init__(self) -> None:
        super().__init__()
        self.backbone_frozen = False

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer embedding: (B, C, H, W) -> (B, D)."""
        raise NotImplementedError

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits from embeddings: (B, D) -> (B, K)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits: (B, C, H, W) -> (B, K)."""
        return self.head(self.embed(x))

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, K), embedding (B, D)) from one pass."""
        embedding = self.embed(x)
        return self.head(embedding), embedding

    def head_parameters(self) -> Iterator[nn.Parameter]:
        for name in self.head_names:
            yield from getattr(self, name).parameters()

    def backbone_modules(self) -> Iterator[nn.Module]:
        """The direct children that are not the head."""
        for name, child in self.named_children():
            if name not in self.head_names:
                yield child

    def freeze_backbone(self) -> None:
        """Train the head only: backbone weights stop needing gradients and its batch
        norm layers keep their (pretrained) running statistics, also in ``train()``."""
        for module in self.backbone_modules():
            module.requires_grad_(False)
        self.backbone_frozen = True
        self.train(self.training)

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.backbone_frozen:
            for module in self.backbone_modules():
                module.eval()
        return self

    def mc_dropout(self) -> Classifier:
        """Inference mode with dropout active, for T stochastic passes (MC-dropout):
        everything is in ``eval()`` except the dropout layers."""
        self.eval()
        for module in self.modules():
            if isinstance(module, nn.Dropout | nn.Dropout2d):
                module.train()
        return self


class SmallConvNet(Classifier):
    """Conv blocks (conv 3x3, batch norm, ReLU, max-pool 2) then a dense embedding.

    Works on any input of at least ``2 ** len(widths)`` pixels a side: the last block
    is pooled to a fixed 2x2 grid, so tiny digits (8x8), MNIST (28x28) and log-mel
    spectrograms (40x101) share the design.

    >>> net = SmallConvNet(in_channels=1, num_classes=10, widths=(16, 32))
    >>> logits, emb = net.forward_with_embedding(torch.zeros(4, 1, 28, 28))
    >>> tuple(logits.shape), tuple(emb.shape)
    ((4, 10), (4, 128))
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int] = (32, 64),
        embedding_dim: int = 128,
        dropout: float = 0.3,
        grid: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid))
        self.neck = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),  # MC-dropout also perturbs the embedding
            nn.Linear(channels * grid * grid, embedding_dim),
            nn.ReLU(inplace=True),
        )
        self.embedding_dim = embedding_dim
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.features(x))  # (B, C, H, W) -> (B, c, 2, 2) -> (B, D)

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(embedding))  # (B, D) -> (B, K)


def load_weights(
    model: Classifier, state: Mapping[str, torch.Tensor], source: str, with_head: bool = True
) -> None:
    """Load ``state`` into ``model``, strictly: a missing, extra or differently shaped
    tensor is a ``CheckpointError`` naming ``source``. With ``with_head=False`` the
    head's tensors are neither required nor taken from ``state`` (a new head, e.g. for
    another class list), and everything else must still match."""
    head = {
        f"{name}.{key}" for name in model.head_names for key in getattr(model, name).state_dict()
    }
    own = model.state_dict()
    if not with_head:
        state = {k: v for k, v in state.items() if k not in head}
        own = {k: v for k, v in own.items() if k not in head}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    reshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = [
        f"{len(keys)} {what} (e.g. {keys[0]})"
        for what, keys in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("tensors of another shape", reshaped),
        )
        if keys
    ]
    if problems:
        raise CheckpointError(
            f"{source} does not fit {type(model).__name__}: {'; '.join(problems)}"
        )
    model.load_state_dict(state, strict=with_head)
