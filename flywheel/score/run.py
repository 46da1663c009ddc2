"""Score the unlabelled pool with one model version on Ray Data.

    read_iceberg(samples, pool rows of the model's modality)
      -> drop samples this version already scored
      -> map_batches(Scorer, actor pool: concurrency x num_gpus)
      -> Parquet files, added to predictions in one commit per run

Re-running scores only what is missing, so a run killed half-way is simply re-run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import ray

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.lake import TABLE_SCHEMAS, CommitHook, Lake, equal, filesystem
from flywheel.runtime import ensure_ray, quiet_ray_data
from flywheel.score.commit import commit_predictions, staged_files, staging_uri
from flywheel.score.scorer import Scorer, ScorerConfig
from flywheel.train import PROMOTED_ALIAS, Models, load_checkpoint


@dataclass(frozen=True)
class ScoreConfig:
    """One scoring run. ``concurrency`` None: one actor per GPU when ``num_gpus`` > 0,
    else one per CPU of the cluster but one (which the Iceberg read tasks need)."""

    model: str = PROMOTED_ALIAS
    batch_size: int = 256
    concurrency: int | None = None
    num_gpus: float = 0.0
    mc_passes: int = 10

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.concurrency is not None and self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.num_gpus < 0 or self.mc_passes < 0:
            raise ConfigError("num_gpus and mc_passes cannot be negative")


@dataclass
class ScoreSummary:
    model_version: str
    pool: int = 0
    already_scored: int = 0
    scored: int = 0
    actors: int = 0
    seconds: float = 0.0
    snapshot_id: int | None = None
    nodes: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        rate = self.scored / self.seconds if self.seconds else 0.0
        return [
            f"score with {self.model_version}: {self.scored} samples scored "
            f"({self.already_scored} of {self.pool} pool samples had scores already) "
            f"in {self.seconds:.1f}s, {rate:.0f} samples/s on {self.actors} actor(s)"
        ]


ACTOR_START_TIMEOUT_S = 600  # a pool that cannot start (no free GPU) fails after this


def score(
    settings: Settings, config: ScoreConfig, before_commit: CommitHook | None = None
) -> ScoreSummary:
    """Score every pool sample the model has not scored yet; returns what it did.
    ``before_commit`` runs before the catalog commit (a test hook)."""
    started = time.monotonic()
    lake = Lake(settings)
    row = Models.read(lake).get(config.model)
    version = row["version"]
    # Fail here, on the driver, with one line, before any actor starts.
    load_checkpoint(row["checkpoint_uri"], settings, row["class_names"])
    summary = ScoreSummary(model_version=version)
    pool_filter = equal(split="pool", modality=row["modality"])
    snap = lake.current_snapshot_id("samples")
    pool_ids = lake.read("samples", columns=["sample_id"], row_filter=pool_filter).column(
        "sample_id"
    )
    done = lake.read(
        "predictions", columns=["sample_id"], row_filter=equal(model_version=version)
    ).column("sample_id")
    summary.pool = len(pool_ids)
    summary.already_scored = int(pc.sum(pc.is_in(pool_ids, value_set=done)).as_py() or 0)
    if summary.pool == summary.already_scored:
        summary.seconds = time.monotonic() - started
        return summary
    ensure_ray(settings)
    run_started = datetime.now(UTC)
    resources = ray.cluster_resources()
    summary.actors = _actors(config, resources)
    before = lake.read("predictions", columns=["sample_id"]).num_rows
    from ray.data.expressions import col

    quiet_ray_data()  # Ray Data's bars and notes to the run's Ray log, unless -v
    # The dataset takes a copy of the current DataContext: hold every block until the
    # whole actor pool is up, so one actor that starts first (its node less busy, or
    # nearer the data) does not take a small pool alone while the other GPUs idle.
    context = ray.data.DataContext.get_current()
    waited = context.wait_for_min_actors_s
    context.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
    try:
        ds = ray.data.read_iceberg(
            table_identifier=lake.qualified_name("samples"),
            catalog_kwargs=lake.catalog_kwargs(),
            snapshot_id=snap,
        )
    finally:
        context.wait_for_min_actors_s = waited
    # Ray pushes the projection and the filter down into the Iceberg scan.
    ds = ds.select_columns(["sample_id", "media", "media_uri", "split", "modality"])
    ds = ds.filter(expr=(col("split") == "pool") & (col("modality") == row["modality"]))
    ds = ds.select_columns(["sample_id", "media", "media_uri"])
    # Blocks of one batch each (streaming, no shuffle), so a pool held in few Parquet
    # files still spreads over every scoring actor.
    ds = ds.repartition(target_num_rows_per_block=config.batch_size)
    ds = ds.map_batches(
        _drop_known,  # type: ignore[arg-type]  # Ray's stubs miss fn_kwargs functions
        fn_kwargs={"known": done.combine_chunks()},
        batch_format="pyarrow",
    )
    # Ray starts a 1-CPU actor with one torch thread; on CPU, the actors share the
    # cluster's cores (2 threads for the single actor of a 2-CPU machine).
    threads = (
        None if config.num_gpus > 0 else max(1, int(resources.get("CPU", 1)) // summary.actors)
    )
    scorer_config = ScorerConfig(
        settings, version, row["checkpoint_uri"], config.mc_passes, threads=threads
    )
    ds = ds.map_batches(
        Scorer,
        fn_constructor_kwargs={"config": scorer_config},
        batch_size=config.batch_size,
        compute=ray.data.ActorPoolStrategy(size=summary.actors),
        num_gpus=config.num_gpus or None,
        batch_format="pyarrow",
    )
    # Actors' blocks become Parquet files with the table's schema; the driver adds
    # them in one commit that never lands a sample twice (flywheel.score.commit).
    staging = staging_uri(lake)
    fs, path = filesystem(staging, settings.s3)
    ds = ds.map_batches(_as_predictions, batch_format="pyarrow")
    ds.write_parquet(path, filesystem=fs)
    props = {"flywheel.model_version": version, "flywheel.samples_snapshot": str(snap)}
    commit_predictions(lake, version, staged_files(lake, staging), props, before_commit)
    after = lake.read(
        "predictions",
        columns=["scorer_node", "scored_at"],
        row_filter=equal(model_version=version),
    )
    after = after.filter(pc.greater_equal(after.column("scored_at"), pa.scalar(run_started)))
    summary.scored = lake.read("predictions", columns=["sample_id"]).num_rows - before
    summary.nodes = _count(after.column("scorer_node"))
    summary.snapshot_id = lake.current_snapshot_id("predictions")
    summary.seconds = time.monotonic() - started
    return summary


def _as_predictions(batch: pa.Table) -> pa.Table:
    return batch.cast(TABLE_SCHEMAS["predictions"])


def _drop_known(batch: pa.Table, known: pa.Array) -> pa.Table:
    """Rows whose sample_id this model version has not scored yet."""
    if len(known) == 0:
        return batch
    return batch.filter(pc.invert(pc.is_in(batch.column("sample_id"), value_set=known)))


def _actors(config: ScoreConfig, resources: dict[str, float]) -> int:
    if config.concurrency is not None:
        return config.concurrency
    if config.num_gpus > 0:
        return max(1, int(resources.get("GPU", 0) // config.num_gpus))
    # Leave one CPU for the read tasks: actors holding every CPU starve the reads and
    # the pipeline stalls.
    return max(1, int(resources.get("CPU", 1)) - 1)


def _count(values: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(values)
    return {str(v["values"]): int(v["counts"]) for v in counts.to_pylist()}
