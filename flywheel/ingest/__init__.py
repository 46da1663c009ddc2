"""Ingest: weakly-labelled media from a folder, manifest or S3 prefix into the lake."""

from typing import TYPE_CHECKING, Any

from flywheel.ingest.run import IngestConfig, ingest
from flywheel.ingest.summary import IngestSummary
from flywheel.taxonomy import Taxonomy

if TYPE_CHECKING:
    from flywheel.ingest.commit import Committer
    from flywheel.ingest.inspect import InspectConfig, inspect_items
    from flywheel.ingest.sources import SourceItem

# Names other packages use, loaded on first use so importing the package stays light.
_LAZY = {
    "Committer": "flywheel.ingest.commit",
    "InspectConfig": "flywheel.ingest.inspect",
    "SourceItem": "flywheel.ingest.sources",
    "inspect_items": "flywheel.ingest.inspect",
}


__all__ = [
    "Committer",
    "IngestConfig",
    "IngestSummary",
    "InspectConfig",
    "SourceItem",
    "Taxonomy",
    "ingest",
    "inspect_items",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
