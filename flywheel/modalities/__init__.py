"""Modality plugins. Each module here that defines a ``Modality`` subclass registers it:
adding a modality touches that one module and nothing else."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from flywheel.errors import ConfigError
from flywheel.modalities.base import MediaFacts, Modality, Rejected

__all__ = ["MediaFacts", "Modality", "Rejected", "get_modality", "modality_for_mime", "names"]


@cache
def _registry() -> dict[str, type[Modality]]:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    found: dict[str, type[Modality]] = {}
    stack = list(Modality.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if getattr(cls, "name", None):
            found[cls.name] = cls
    return found


def names() -> list[str]:
    """The registered modality names, sorted."""
    return sorted(_registry())


def get_modality(name: str, **params: object) -> Modality:
    """An instance of the modality called ``name``; ``params`` tune its checks."""
    try:
        cls = _registry()[name]
    except KeyError:
        raise ConfigError(
            f"unknown modality {name!r}; valid modalities: {', '.join(names())}"
        ) from None
    return cls(**params)


def modality_for_mime(mime: str) -> str | None:
    """The name of the modality that accepts ``mime``, or None."""
    for name, cls in sorted(_registry().items()):
        if mime.startswith(cls.mime_prefixes):
            return name
    return None
