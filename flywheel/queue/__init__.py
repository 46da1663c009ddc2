"""The annotation stage: queues, leases, vendor API, label quality, export.

The public surface is re-exported here; modules are private by convention.

>>> from flywheel.queue import open_engine, create_queue, enqueue
>>> engine = open_engine("sqlite://")
>>> create_queue(engine, "birds", ["crow", "gull"]).consensus
1
"""

from typing import TYPE_CHECKING, Any

from flywheel.db import open_engine, transaction
from flywheel.queue.errors import (
    AuthError,
    ConflictError,
    InvalidAnswerError,
    LeaseExpiredError,
    QueueError,
)
from flywheel.queue.quality import Decision, dawid_skene, majority_vote, weighted_vote
from flywheel.queue.stats import QueueStats, queue_stats, refresh_quality
from flywheel.queue.store import Queue, add_vendor, create_queue, get_queue, revoke_vendor
from flywheel.queue.tasks import (
    EnqueueResult,
    add_gold,
    clean_prefill,
    enqueue,
    open_tasks,
    queued_sample_ids,
    scrub_prefills,
)

if TYPE_CHECKING:
    from flywheel.clikit import printable
    from flywheel.queue.api import MAX_HEADER_BYTES, ApiConfig, ApiState, Token, create_app
    from flywheel.queue.export import ExportResult, export_labels

# Names other packages use, loaded on first use so importing the package stays light.
_LAZY = {
    "ApiConfig": "flywheel.queue.api",
    "ApiState": "flywheel.queue.api",
    "ExportResult": "flywheel.queue.export",
    "MAX_HEADER_BYTES": "flywheel.queue.api",
    "Token": "flywheel.queue.api",
    "create_app": "flywheel.queue.api",
    "export_labels": "flywheel.queue.export",
    "printable": "flywheel.clikit",  # shared with the lake's `flywheel sql`
}


__all__ = [
    "MAX_HEADER_BYTES",
    "ApiConfig",
    "ApiState",
    "AuthError",
    "ConflictError",
    "Decision",
    "EnqueueResult",
    "ExportResult",
    "InvalidAnswerError",
    "LeaseExpiredError",
    "Queue",
    "QueueError",
    "QueueStats",
    "Token",
    "add_gold",
    "add_vendor",
    "clean_prefill",
    "create_app",
    "create_queue",
    "dawid_skene",
    "enqueue",
    "export_labels",
    "get_queue",
    "majority_vote",
    "open_engine",
    "open_tasks",
    "printable",
    "queue_stats",
    "queued_sample_ids",
    "refresh_quality",
    "revoke_vendor",
    "scrub_prefills",
    "transaction",
    "weighted_vote",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
