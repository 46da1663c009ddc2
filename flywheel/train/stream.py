"""Training media as Ray Data streams: read from the lake per block, never gathered.

    read_iceberg(samples @ pinned snapshot, this modality)
      -> map_batches(attach labels and weights; fetch media stored by URI)
      -> Ray Train: ``train`` split over the workers (streaming_split), ``eval`` whole

The driver holds only the (sample_id, label, weight) rows of ``flywheel.train.data``;
each read task holds one block of media, and each training worker one shuffle buffer.

CPUs: Ray Train reserves its workers' resources and gives Ray Data the rest of the
cluster. Workers that take every CPU would leave the read tasks none and the pipeline
would wait forever, so on a cluster with no CPU to spare the workers share all but
``DATA_CPUS`` of them, and the data tasks ask for fractions (``TASK_CPUS``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.config import S3Settings
from flywheel.lake import Lake, media_of

DATA_CPUS = 0.5  # CPUs left to Ray Data when the training workers would take them all
TASK_CPUS = 0.25  # what one read or label-attaching task asks for


@dataclass(frozen=True)
class MediaSource:
    """Where a run's media are: plain values, so a dataset factory that holds them can
    travel to Ray Train's controller (a pyiceberg table cannot be pickled)."""

    table_identifier: str  # "namespace.samples"
    catalog_kwargs: dict[str, str]
    snapshot_id: int | None
    modality: str
    s3: S3Settings

    @classmethod
    def of(cls, lake: Lake, snapshot_id: int | None, modality: str) -> MediaSource:
        return cls(
            lake.qualified_name("samples"), lake.catalog_kwargs(), snapshot_id, modality,
            lake.settings.s3,
        )  # fmt: skip


@functools.cache
def _picklable_iceberg() -> type:
    from ray.data._internal.datasource.iceberg_datasource import IcebergDatasource

    class PicklableIceberg(IcebergDatasource):
        """``ray.data.read_iceberg``'s datasource, minus the pyiceberg table it caches
        once it has read the schema: that table holds the SQL catalog's engine, which
        cannot be pickled, and Ray Train ships its datasets to another process. The
        table is loaded again from ``catalog_kwargs`` where it is needed."""

        def __getstate__(self) -> dict[str, Any]:
            state = self.__dict__.copy()
            state["_table"] = None
            return state

    return PicklableIceberg


def dataset_factory(source: MediaSource, rows: pa.Table) -> Callable[[], Any]:
    """What Ray Train's ``datasets=`` takes: a callable that builds the dataset of
    ``rows`` where it runs (the controller)."""
    return functools.partial(labelled_media, source, rows)


def labelled_media(source: MediaSource, rows: pa.Table) -> Any:
    """A ``ray.data.Dataset`` of (sample_id, media, label, weight) for the samples in
    ``rows`` (sample_id, label, weight), read from ``samples`` at the pinned snapshot."""
    import ray.data
    from ray.data.expressions import col

    # This runs in Ray Train's controller: its progress bars would reach the driver's
    # terminal as raw escape sequences; flywheel reports epochs itself.
    ray.data.DataContext.get_current().enable_progress_bars = False

    datasource = _picklable_iceberg()(
        table_identifier=source.table_identifier,
        catalog_kwargs=source.catalog_kwargs,
        snapshot_id=source.snapshot_id,
    )
    ds = ray.data.read_datasource(datasource, num_cpus=TASK_CPUS)
    # Ray pushes the projection and the filter down into the Iceberg scan.
    ds = ds.select_columns(["sample_id", "media", "media_uri", "modality"])
    ds = ds.filter(expr=col("modality") == source.modality)
    return ds.map_batches(
        _attach,
        fn_kwargs={"rows": rows, "s3": source.s3},
        batch_format="pyarrow",
        num_cpus=TASK_CPUS,
    )


def worker_cpus(cluster_cpus: float, workers: int) -> float:
    """CPUs per training worker: one each when the cluster has one to spare for Ray
    Data, else an equal share of all but ``DATA_CPUS``.

    >>> worker_cpus(8, 2), worker_cpus(2, 1), worker_cpus(2, 2)
    (1.0, 1.0, 0.75)
    """
    if cluster_cpus - workers >= 1:
        return 1.0
    return max(cluster_cpus - DATA_CPUS, TASK_CPUS) / workers


def _attach(batch: pa.Table, rows: pa.Table, s3: S3Settings) -> pa.Table:
    """The batch's samples that are in ``rows``, with their label and weight; media
    stored as objects are fetched here, one block at a time."""
    pos = pc.index_in(batch["sample_id"], value_set=rows["sample_id"])  # (B,) or null
    keep = pc.is_valid(pos)
    batch, pos = batch.filter(keep), pos.filter(keep)
    media = media_of(batch, s3)
    return pa.table(
        {
            "sample_id": batch["sample_id"],
            "media": pa.array(media, pa.binary()),
            "label": rows["label"].take(pos),
            "weight": rows["weight"].take(pos),
        }
    )
