"""The Ray actor that inspects chunks of source items and writes their samples.

Each chunk's samples (media inline or by URI) go straight to a Parquet file in the run's
staging folder inside the ``samples`` table; the actor hands back only the rows' keys
(``KEY_COLUMNS``, a few short strings each), the quarantine rows (no media) and the
file's URI. The driver decides which rows land and commits the files: no process but
the one that read a chunk ever holds its media.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from flywheel.config import S3Settings
from flywheel.errors import StorageError
from flywheel.ingest.inspect import InspectConfig, inspect_items
from flywheel.ingest.sources import SourceItem
from flywheel.lake import SAMPLES, filesystem

# What the driver learns of each sample: its identity, where it came from (the winner
# among same-bytes items is the first by path) and what the run summary counts.
KEY_COLUMNS = ("sample_id", "source_path", "weak_label", "weak_label_rule", "mime_mismatch")
# Most bytes of samples in one Parquet row group: Iceberg's own default
# (write.parquet.row-group-size-bytes). A chunk of photo-sized samples is one row group
# far below it; a chunk of media near the inline threshold (256 x 1 MiB) is split.
# docs/decisions/media-storage.md.
ROW_GROUP_BYTES = 128 << 20


@ray.remote(num_cpus=1)
class IngestWorker:
    """Holds the inspect config (taxonomy, storage settings) for its lifetime and turns
    each chunk into (chunk length, sample keys, quarantine rows, staged file or None,
    the Ray node it ran on)."""

    def __init__(self, config: InspectConfig, staging: str) -> None:
        self.config, self.staging = config, staging

    def process(
        self, items: Sequence[SourceItem]
    ) -> tuple[int, pa.Table, pa.Table, str | None, str]:
        samples, quarantine = inspect_items(items, self.config)
        node = ray.get_runtime_context().get_node_id()
        if samples.num_rows == 0:
            return len(items), keys_of(samples), quarantine, None, node
        uri = write_staged(samples, self.staging, self.config.s3)
        return len(items), keys_of(samples), quarantine, uri, node


def keys_of(samples: pa.Table) -> pa.Table:
    return samples.select(list(KEY_COLUMNS))


def write_staged(
    samples: pa.Table, staging: str, s3: S3Settings, row_group_bytes: int = ROW_GROUP_BYTES
) -> str:
    """Write ``samples`` as one Parquet file of the table's schema under ``staging``,
    in row groups of about ``row_group_bytes`` at most."""
    uri = f"{staging.rstrip('/')}/{uuid.uuid4().hex}.parquet"
    fs, path = filesystem(uri, s3)
    rows = max(1, samples.num_rows * row_group_bytes // max(1, samples.nbytes))
    try:
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        pq.write_table(samples.cast(SAMPLES), path, filesystem=fs, row_group_size=rows)
    except OSError as err:
        raise StorageError(f"cannot write ingest data under {staging}: {err}") from None
    return uri
