"""The queue's SQL tables (SQLAlchemy Core), in the same database as the Iceberg catalog.

Private to :mod:`flywheel.queue` (an import-linter contract): other packages call the
queue's functions.

Every name starts with ``aq_`` (annotation queue) so the tables sit beside pyiceberg's
``iceberg_*`` tables without a clash. Times are UNIX seconds (double precision) taken
from the API host's clock, the same on SQLite and PostgreSQL.

    aq_queues ─┬─ aq_vendor_queues ── aq_vendors ── aq_vendor_annotators
               ├─ aq_tasks ── aq_lease_tasks ── aq_leases
               ├─ aq_gold                 aq_annotations (one row per answer)
               └─ aq_labels (one row per decided sample: consensus, verify, gold)
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from flywheel.db.base import Id, metadata

queues = Table(
    "aq_queues",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("labels", JSON, nullable=False),  # ["cat", "dog", ...], in display order
    Column("consensus", Integer, nullable=False),  # K answers from distinct annotators
    Column("max_answers", Integer, nullable=False),  # low agreement re-opens up to this
    Column("min_agreement", Double, nullable=False),  # share of votes the winner needs
    Column("gold_rate", Double, nullable=False),  # share of served tasks that are gold
    Column("gold_carry", Double, nullable=False, default=0.0),  # fractional gold owed
    Column("lease_seconds", Integer, nullable=False),
    Column("instructions", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
)

vendors = Table(
    "aq_vendors",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double),
)

# Annotator names an operator registered for a vendor. A vendor with registered names
# may answer only under them, so consensus counts people the operator knows; one name
# makes the whole vendor one annotator. A vendor with none is trusted with its names.
vendor_annotators = Table(
    "aq_vendor_annotators",
    metadata,
    Column("vendor_id", ForeignKey("aq_vendors.id"), primary_key=True),
    Column("annotator", String(200), primary_key=True),
)

vendor_queues = Table(
    "aq_vendor_queues",
    metadata,
    Column("vendor_id", ForeignKey("aq_vendors.id"), primary_key=True),
    Column("queue_id", ForeignKey("aq_queues.id"), primary_key=True),
)

tasks = Table(
    "aq_tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("queue_id", ForeignKey("aq_queues.id"), nullable=False),
    Column("sample_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # label | verify
    Column("prefill", JSON),  # {"label", "confidence", "top_k": [[label, p], ...]} or null
    Column("priority", Double, nullable=False, default=0.0),  # higher is leased first
    Column("is_gold", Boolean, nullable=False, default=False),
    Column("needed", Integer, nullable=False),  # counted answers required to decide
    Column("answers", Integer, nullable=False, default=0),  # counted answers so far
    Column("status", String(16), nullable=False),  # open | done
    Column("lease_id", String(32)),  # the lease holding it, live while lease_expires_at > now
    Column("lease_expires_at", Double),
    Column("created_at", Double, nullable=False),
    Column("done_at", Double),
)
Index("aq_tasks_pick", tasks.c.queue_id, tasks.c.status, tasks.c.priority, tasks.c.id)
Index("aq_tasks_sample", tasks.c.sample_id, tasks.c.kind)

leases = Table(
    "aq_leases",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex: unguessable
    Column("vendor_id", ForeignKey("aq_vendors.id"), nullable=False),
    Column("queue_id", ForeignKey("aq_queues.id"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("released_at", Double),
)

# Which tasks a lease was given; kept after the task moves on, so a late answer can
# still be matched to the lease it was leased under.
lease_tasks = Table(
    "aq_lease_tasks",
    metadata,
    Column("lease_id", ForeignKey("aq_leases.id"), primary_key=True),
    Column("task_id", ForeignKey("aq_tasks.id"), primary_key=True),
)

annots = Table(
    "aq_annotations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("task_id", ForeignKey("aq_tasks.id"), nullable=False),
    Column("vendor_id", ForeignKey("aq_vendors.id"), nullable=False),
    Column("lease_id", String(32)),  # null for imports (Label Studio)
    Column("annotator", String(200), nullable=False),
    Column("label", String(200)),  # null when skipped
    Column("skip", Boolean, nullable=False),
    Column("counted", Boolean, nullable=False),  # counted towards the task's needed answers
    Column("idempotency_key", String(200), nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("vendor_id", "idempotency_key", name="aq_annotations_idempotency"),
)
Index("aq_annotations_task", annots.c.task_id)

gold = Table(
    "aq_gold",
    metadata,
    Column("queue_id", ForeignKey("aq_queues.id"), primary_key=True),
    Column("sample_id", String(128), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("prefill", JSON),  # shown like any task's prefill, so gold does not stand out
    Column("created_at", Double, nullable=False),
)

labels = Table(
    "aq_labels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("queue_id", ForeignKey("aq_queues.id"), nullable=False),
    Column("task_id", ForeignKey("aq_tasks.id")),  # null for gold labels
    Column("sample_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # label | verify | gold
    Column("label", String(200), nullable=False),
    Column("method", String(32), nullable=False),  # single | majority | weighted | gold
    Column("votes", JSON, nullable=False),  # {label: count}
    Column("agreement", Double, nullable=False),  # winner's share of the votes
    Column("confidence", Double, nullable=False),  # winner's share of the weighted votes
    Column("n_answers", Integer, nullable=False),
    Column("decided_at", Double, nullable=False),
)
Index("aq_labels_sample", labels.c.sample_id)

# Dawid-Skene estimates of each annotator, refreshed by `queue stats` and the export;
# a prior for weighing answers that gold tasks then sharpen.
annotator_quality = Table(
    "aq_annotator_quality",
    metadata,
    Column("queue_id", ForeignKey("aq_queues.id"), primary_key=True),
    Column("vendor_id", ForeignKey("aq_vendors.id"), primary_key=True),
    Column("annotator", String(200), primary_key=True),
    Column("accuracy", Double, nullable=False),
    Column("n_answers", Integer, nullable=False),
    Column("updated_at", Double, nullable=False),
)
