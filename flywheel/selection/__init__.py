"""Select: turn scores into a ranked, batch-aware choice and send it to annotation."""

from typing import TYPE_CHECKING, Any

from flywheel.selection.run import SelectConfig, SelectSummary, select

if TYPE_CHECKING:
    from flywheel.selection.pool import known_sample_ids
    from flywheel.selection.verify import select_for_verification

# Names other packages use, loaded on first use so importing the package stays light.
_LAZY = {
    "known_sample_ids": "flywheel.selection.pool",
    "select_for_verification": "flywheel.selection.verify",
}


__all__ = [
    "SelectConfig",
    "SelectSummary",
    "known_sample_ids",
    "select",
    "select_for_verification",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
