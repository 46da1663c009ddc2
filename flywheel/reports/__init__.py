"""Reports: look at the data and the models.

- ``browse``: a static gallery of samples and quarantined inputs
- ``confusion_report``: a model's confusion matrix and the change from another version
- ``embeddings_report``: 2-D projection, TensorBoard projector export, split clusters
- ``find_split_clusters``: the split-cluster detector on any embeddings
- ``verify_cluster``: one group of a split class as a verification batch
- ``balance_report``: samples per class and where their labels come from

Every page is a static file that opens from disk (no server, no network).
"""

from typing import TYPE_CHECKING, Any

from flywheel.reports.balance import BalanceConfig, balance_report
from flywheel.reports.clusters import ClassSplit, Group, SplitConfig, find_split_clusters
from flywheel.reports.confusion import ConfusionConfig, confusion_report
from flywheel.reports.embeddings import EmbeddingsConfig, embeddings_report
from flywheel.reports.gallery import BrowseConfig, browse
from flywheel.reports.verify import VerifyClusterConfig, parse_cluster_ref, verify_cluster

if TYPE_CHECKING:
    from flywheel.reports.page import render

# Names other packages use, loaded on first use so importing the package stays light.
_LAZY = {
    "render": "flywheel.reports.page",
}


__all__ = [
    "BalanceConfig",
    "BrowseConfig",
    "ClassSplit",
    "ConfusionConfig",
    "EmbeddingsConfig",
    "Group",
    "SplitConfig",
    "VerifyClusterConfig",
    "balance_report",
    "browse",
    "confusion_report",
    "embeddings_report",
    "find_split_clusters",
    "parse_cluster_ref",
    "render",
    "verify_cluster",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
