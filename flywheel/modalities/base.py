"""The modality interface: decode and check bytes, report media facts, turn bytes into
tensors and build the default network.

A modality is one small module under ``flywheel/modalities/``; defining a subclass of
``Modality`` there is all it takes to register it (see ``flywheel.modalities``).

Tensors: an *input spec* (a JSON-able dict, saved in every checkpoint) says how bytes
become the network's input, so scoring decodes exactly as training did:
``collate(items, spec)`` gives a float32 batch (B, C, H, W).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from flywheel.errors import ConfigError, FlywheelError

if TYPE_CHECKING:
    import torch

    from flywheel.networks import Classifier


class Rejected(FlywheelError):
    """An input failed a quality check. ``reason`` is a short snake_case code that lands
    in the ``quarantine`` table's ``reason`` column; ``detail`` is for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[Rejected], tuple[str, str]]:
        # Survives pickling, so a Ray worker can raise it to the driver.
        return (type(self), (self.reason, self.detail))


@dataclass(frozen=True)
class MediaFacts:
    """What decoding learned about one item. Unused fields stay None.

    >>> MediaFacts(width=8, height=8, channels=1).duration_s is None
    True
    """

    width: int | None = None
    height: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    sample_rate: int | None = None


class Modality:
    """Base class. Subclasses set the class variables and implement ``inspect``."""

    name: ClassVar[str]
    # MIME prefixes this modality accepts, e.g. ("image/",).
    mime_prefixes: ClassVar[tuple[str, ...]]
    # Every ``Rejected.reason`` that ``inspect`` can raise, for docs and reports.
    quality_checks: ClassVar[tuple[str, ...]]
    # Network architectures ``build_model`` knows; the first is the default.
    archs: ClassVar[tuple[str, ...]] = ()

    def accepts(self, mime: str) -> bool:
        return mime.startswith(self.mime_prefixes)

    def inspect(self, data: bytes, mime: str) -> MediaFacts:
        """Decode ``data`` (whose type, from magic bytes, is ``mime``) with a real codec
        and run the quality checks. Returns the facts or raises ``Rejected``."""
        raise NotImplementedError

    def resolve_arch(self, arch: str | None) -> str:
        """``arch`` checked against ``archs``; None means the default (the first)."""
        if arch is None:
            return self.archs[0]
        if arch not in self.archs:
            raise ConfigError(
                f"unknown {self.name} architecture {arch!r}; valid: {', '.join(self.archs)}"
            )
        return arch

    def input_spec(self, arch: str | None = None) -> dict[str, Any]:
        """How ``to_tensor`` makes the input of ``arch``'s network (JSON-able)."""
        raise NotImplementedError

    def input_shape(self, spec: Mapping[str, Any] | None = None) -> tuple[int, int, int]:
        """The (C, H, W) of what ``to_tensor`` returns for ``spec`` (default: the default
        architecture's), as the network built for it expects."""
        raise NotImplementedError

    def to_tensor(self, data: bytes, spec: Mapping[str, Any] | None = None) -> torch.Tensor:
        """One item's bytes -> float32 (C, H, W), as ``spec`` (default: the default
        architecture's) says. Raises ``Rejected`` when the bytes do not decode."""
        raise NotImplementedError

    def collate(
        self, items: Sequence[bytes], spec: Mapping[str, Any] | None = None
    ) -> torch.Tensor:
        """A batch: list of B items' bytes -> float32 (B, C, H, W)."""
        import torch

        spec = spec if spec is not None else self.input_spec()
        return torch.stack([self.to_tensor(data, spec) for data in items])

    def build_model(
        self,
        num_classes: int,
        arch: str | None = None,
        pretrained: bool | None = None,
        freeze_backbone: bool = False,
    ) -> Classifier:
        """A new network for ``num_classes``. ``pretrained`` None means the
        architecture's default (pretrained weights when it has them)."""
        raise NotImplementedError
