"""Modality plugins. Each module here that defines a ``Modality`` subclass registers it:
adding a modality touches that one module and nothing else."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any

from flywheel.errors import ConfigError
from flywheel.modalities.base import MediaFacts, Modality, Rejected

if TYPE_CHECKING:
    from flywheel.modalities.audio import AudioModality, loudest_centre, speech_mel_power
    from flywheel.modalities.audio_checks import CHECK_HELP, AudioChecks

# Names other packages use, loaded on first use so importing the package stays light.
_LAZY = {
    "AudioChecks": "flywheel.modalities.audio_checks",
    "AudioModality": "flywheel.modalities.audio",
    "CHECK_HELP": "flywheel.modalities.audio_checks",
    "loudest_centre": "flywheel.modalities.audio",
    "speech_mel_power": "flywheel.modalities.audio",
}


__all__ = [
    "CHECK_HELP",
    "AudioChecks",
    "AudioModality",
    "MediaFacts",
    "Modality",
    "Rejected",
    "get_modality",
    "loudest_centre",
    "modality_for_mime",
    "names",
    "speech_mel_power",
]


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
    """An instance of the modality called ``name``; ``params`` tune its checks. A
    setting the modality does not take is a ``ConfigError`` naming the valid ones.

    >>> get_modality("image", min_side=4).min_side
    4
    >>> get_modality("image", min_sides=4)
    Traceback (most recent call last):
    ...
    flywheel.errors.ConfigError: unknown image setting(s) min_sides; valid: min_side
    """
    try:
        cls = _registry()[name]
    except KeyError:
        raise ConfigError(
            f"unknown modality {name!r}; valid modalities: {', '.join(names())}"
        ) from None
    accepted = inspect.signature(cls).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in accepted):  # **kwargs: the class checks them
        valid = [p.name for p in accepted if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown {name} setting(s) {', '.join(unknown)}; "
                f"valid: {', '.join(valid) or 'none'}"
            )
    return cls(**params)


def modality_for_mime(mime: str) -> str | None:
    """The name of the modality that accepts ``mime``, or None."""
    for name, cls in sorted(_registry().items()):
        if mime.startswith(cls.mime_prefixes):
            return name
    return None


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
