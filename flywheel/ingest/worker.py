"""The Ray actor that inspects chunks of source items."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import ray

from flywheel.ingest.inspect import InspectConfig, inspect_items
from flywheel.ingest.sources import SourceItem


@ray.remote(num_cpus=1)
class IngestWorker:
    """Holds the inspect config (taxonomy, storage settings) for its lifetime and turns
    each chunk into Arrow batches: (chunk length, samples, quarantine)."""

    def __init__(self, config: InspectConfig) -> None:
        self.config = config

    def process(self, items: Sequence[SourceItem]) -> tuple[int, pa.Table, pa.Table]:
        samples, quarantine = inspect_items(items, self.config)
        return len(items), samples, quarantine
