"""The modality interface: decode and check bytes, report media facts.

A modality is one small module under ``flywheel/modalities/``; defining a subclass of
``Modality`` there is all it takes to register it (see ``flywheel.modalities``).
Later stages add ``to_tensor`` and ``build_model`` to the same classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from flywheel.errors import FlywheelError


class Rejected(FlywheelError):
    """An input failed a quality check. ``reason`` is a short snake_case code that lands
    in the ``quarantine`` table's ``reason`` column; ``detail`` is for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


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

    def accepts(self, mime: str) -> bool:
        return mime.startswith(self.mime_prefixes)

    def inspect(self, data: bytes, mime: str) -> MediaFacts:
        """Decode ``data`` (whose type, from magic bytes, is ``mime``) with a real codec
        and run the quality checks. Returns the facts or raises ``Rejected``."""
        raise NotImplementedError
