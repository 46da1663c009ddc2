"""The annotation stage: queues, leases, vendor API, label quality, export.

The public surface is re-exported here; modules are private by convention.

>>> from flywheel.queue import open_engine, create_queue, enqueue
>>> engine = open_engine("sqlite://")
>>> create_queue(engine, "birds", ["crow", "gull"]).consensus
1
"""

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
from flywheel.queue.store import Queue, add_vendor, create_queue, revoke_vendor
from flywheel.queue.tasks import EnqueueResult, add_gold, enqueue

__all__ = [
    "AuthError",
    "ConflictError",
    "Decision",
    "EnqueueResult",
    "InvalidAnswerError",
    "LeaseExpiredError",
    "Queue",
    "QueueError",
    "QueueStats",
    "add_gold",
    "add_vendor",
    "create_queue",
    "dawid_skene",
    "enqueue",
    "majority_vote",
    "open_engine",
    "queue_stats",
    "refresh_quality",
    "revoke_vendor",
    "transaction",
    "weighted_vote",
]
