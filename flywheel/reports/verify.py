"""Turn one group of a split class into a verification batch: ``flywheel report
verify-cluster CLASS:GROUP --queue Q``.

The group is found again exactly as ``flywheel embeddings`` found it (same model, same
seeded analysis), its members not yet labelled or queued become one ``selections``
round of kind ``verify`` (most typical member first), and they are enqueued as "is this
CLASS?" tasks with the model's prediction as the prefill.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.config import Settings
from flywheel.errors import ConfigError, NotFoundError
from flywheel.lake import Lake
from flywheel.reports import lakeview
from flywheel.reports.clusters import ClassSplit, SplitConfig
from flywheel.reports.embeddings import analyse_splits, embedding_matrix
from flywheel.selection import SelectSummary, select_for_verification


def parse_cluster_ref(text: str) -> tuple[str, int]:
    """``CLASS:GROUP`` -> (class, group number from 1).

    >>> parse_cluster_ref("seven-or-one:2")
    ('seven-or-one', 2)
    """
    name, sep, number = text.rpartition(":")
    if not sep or not name or not number.isdigit() or int(number) < 1:
        raise ConfigError(
            f"{text!r} is not CLASS:GROUP (e.g. jaguar:2; groups are numbered from 1 "
            "as in split_clusters.html)"
        )
    return name, int(number)


@dataclass(frozen=True)
class VerifyClusterConfig:
    class_name: str
    group: int  # 1 = the largest group
    queue: str
    model: str = "promoted"
    budget: int | None = None  # at most this many tasks; None = the whole group
    split: SplitConfig = field(default_factory=SplitConfig)

    def __post_init__(self) -> None:
        if self.group < 1:
            raise ConfigError(f"group numbers start at 1, got {self.group}")
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"--budget must be at least 1, got {self.budget}")


def verify_cluster(settings: Settings, config: VerifyClusterConfig) -> SelectSummary:
    """Record and enqueue the verification batch; returns the round's summary."""
    lake = Lake(settings)
    row = lakeview.model_row(lake, config.model)
    assert row is not None  # required: a missing model raises
    version = row["version"]
    _check_queue_label(settings, config.queue, config.class_name)
    split = class_split(settings, version, config.class_name, config.split)
    if config.group > len(split.groups):
        raise NotFoundError(
            f"class {config.class_name!r} has {len(split.groups)} group(s) in the embeddings "
            f"of {version}; pick 1..{len(split.groups)} (see `flywheel embeddings`)"
        )
    members = split.groups[config.group - 1].members  # most typical first
    strategy = f"split-cluster({config.class_name}:{config.group})"
    return select_for_verification(settings, members, strategy, config.queue, row, config.budget)


def class_split(
    settings: Settings, version: str, class_name: str, config: SplitConfig
) -> ClassSplit:
    """The split analysis of one class in the embeddings of ``version``: the same
    analysis as the report's (every class, so the null is the same), then that class."""
    table = lakeview.point_table(settings, version)
    classes = lakeview.class_column(table)
    if class_name not in classes:
        known = sorted(set(classes) - {lakeview.NO_CLASS})
        raise NotFoundError(
            f"no sample of class {class_name!r} was scored by {version}; classes: "
            f"{', '.join(known) or 'none'}"
        )
    emb = embedding_matrix(table.column("embedding"))
    ids = table.column("sample_id").to_pylist()
    splits = analyse_splits(emb, classes, ids, config, Lake(settings))
    return next(s for s in splits if s.class_name == class_name)


def _check_queue_label(settings: Settings, queue: str, class_name: str) -> None:
    """The queue exists and can ask "is this CLASS?" — checked before anything is written."""
    from flywheel.db import open_engine
    from flywheel.queue import get_queue

    engine = open_engine(settings.catalog_uri)
    try:
        with engine.connect() as conn:
            labels = get_queue(conn, queue).labels  # NotFoundError names the queues
    finally:
        engine.dispose()
    if class_name not in labels:
        raise ConfigError(
            f"queue {queue!r} cannot ask about {class_name!r}: its labels are "
            f"{', '.join(labels)}; create a queue whose --labels include it"
        )
