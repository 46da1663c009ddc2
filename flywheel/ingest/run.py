"""Ingest orchestration: list the source, fan chunks out over a pool of Ray actors,
and hand every Arrow batch to one committer that lands the run whole or not at all."""

from __future__ import annotations

import itertools
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import ray
from ray.util import ActorPool
from tqdm import tqdm

from flywheel.config import S3Settings, Settings
from flywheel.errors import ConfigError, StorageError
from flywheel.ingest.commit import Committer
from flywheel.ingest.inspect import DEFAULT_MAX_FILE_BYTES, InspectConfig, entry_rows
from flywheel.ingest.sources import S3_PAGE_SIZE, Listing, SourceItem, list_source
from flywheel.ingest.summary import IngestSummary
from flywheel.ingest.worker import IngestWorker, keys_of
from flywheel.lake import SAMPLES, CommitHook, Lake, filesystem
from flywheel.modalities import get_modality
from flywheel.modalities import names as modality_names
from flywheel.runtime import cluster_cpus, ensure_ray
from flywheel.taxonomy import Taxonomy

SPLITS = ("pool", "test", "regression")


@dataclass(frozen=True)
class IngestConfig:
    """One ingest run, as the CLI or a job asks for it."""

    source: str
    taxonomy: str | Path
    modality: str | None = None
    split: str = "pool"
    chunk_size: int = 256
    workers: int | None = None  # None: one actor per CPU of the cluster
    inline_max_bytes: int = 1 << 20
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # larger files are quarantined unread
    list_page_size: int = S3_PAGE_SIZE  # keys per S3 list request
    progress: bool = True
    # modality -> check thresholds, e.g. {"audio": {"edge_rise_db": 9.0}}
    modality_params: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"unknown split {self.split!r}; valid splits: {', '.join(SPLITS)}")
        if self.modality is not None and self.modality not in modality_names():
            raise ConfigError(
                f"unknown modality {self.modality!r}; valid modalities: {', '.join(modality_names())}"
            )
        for name, params in self.modality_params.items():
            get_modality(name, **params)  # an unknown name or a bad threshold fails here
        if self.chunk_size < 1 or (self.workers is not None and self.workers < 1):
            raise ConfigError("chunk_size and workers must be at least 1")
        if not 1 <= self.list_page_size <= S3_PAGE_SIZE:
            raise ConfigError(f"list_page_size must be 1 to {S3_PAGE_SIZE} keys")
        if self.max_file_bytes < 1:
            raise ConfigError(f"the file size cap {self.max_file_bytes} must be at least 1 byte")


def ingest(
    settings: Settings, config: IngestConfig, before_commit: CommitHook | None = None
) -> IngestSummary:
    """Run one ingest. Validates everything that can be checked before any work
    (taxonomy, source, storage), so bad input fails fast and writes nothing.
    ``before_commit`` runs before each catalog commit (a test hook)."""
    started = time.monotonic()
    taxonomy = Taxonomy.load(config.taxonomy)
    lake = Lake(settings)
    lake.table("samples"), lake.table("quarantine")  # catalog reachable, tables exist
    listing = list_source(config.source, settings.s3, config.list_page_size)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    inspect_config = InspectConfig(
        source=listing.source,
        split=config.split,
        run_id=run_id,
        taxonomy=taxonomy,
        media_prefix=settings.media_prefix(),
        s3=settings.s3,
        modality=config.modality,
        inline_max_bytes=config.inline_max_bytes,
        max_file_bytes=config.max_file_bytes,
        modality_params=config.modality_params,
    )
    committer = Committer(lake, run_id, listing.source)
    staging = committer.staging
    check_writable(staging, settings.s3)  # an unwritable warehouse fails before any work
    committer.add(keys_of(SAMPLES.empty_table()), entry_rows(listing.entries, inspect_config))
    summary = IngestSummary(run_id=run_id, source=listing.source)
    try:
        for keys, quarantine, staged, (node, files) in _inspect_on_ray(
            settings, listing, inspect_config, config, staging
        ):
            committer.add(keys, quarantine, staged)
            summary.nodes[node] += files
            summary.files += files
        # A streamed listing knows its manifest problems and sidecars only now.
        committer.add_manifest_problems(listing.problems, inspect_config)
        summary.sidecars_skipped = listing.sidecars
        committer.commit(summary, before_commit)
    except BaseException:
        committer.discard()
        raise
    summary.seconds = time.monotonic() - started
    return summary


def check_writable(uri: str, s3: S3Settings) -> None:
    """Write and delete a small object under ``uri``; one clear line when it fails
    (a read-only warehouse, a full disk, a bucket without write access)."""
    fs, path = filesystem(uri, s3)
    probe = f"{path}/.probe"
    try:
        fs.create_dir(path, recursive=True)
        with fs.open_output_stream(probe) as out:
            out.write(b"flywheel")
        fs.delete_file(probe)
    except OSError as err:
        raise StorageError(f"cannot write to the warehouse at {uri}: {err}") from None


def _chunks(items: Iterable[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    """``items`` in lists of ``size``, taken from the iterable as they are needed."""
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _inspect_on_ray(
    settings: Settings,
    listing: Listing,
    inspect_config: InspectConfig,
    config: IngestConfig,
    staging: str,
) -> Iterator[tuple[pa.Table, pa.Table, str | None, tuple[str, int]]]:
    """(sample keys, quarantine rows, staged file, (node, files)) per chunk, as the
    actors finish. Chunks are taken from the listing only as actors free up (one in
    flight per actor), so a streamed listing is never held whole; Ray starts only when
    there is a first chunk, and actors as chunks need them."""
    chunks = _chunks(listing.items, config.chunk_size)
    first = next(chunks, None)
    if first is None:
        return
    ensure_ray(settings)
    n_actors = config.workers or cluster_cpus()
    actors: list[ray.actor.ActorHandle] = []
    pool = ActorPool([])
    bar = tqdm(
        total=len(listing.items) if isinstance(listing.items, Sized) else None,
        unit="file",
        desc="ingest",
        file=sys.stderr,
        disable=not config.progress,
        mininterval=0.5,
    )

    def finished() -> tuple[pa.Table, pa.Table, str | None, tuple[str, int]]:
        chunk_len, keys, quarantine, staged, node = pool.get_next_unordered()
        bar.update(chunk_len)
        return keys, quarantine, staged, (node, chunk_len)

    try:
        for chunk in itertools.chain([first], chunks):
            if not pool.has_free():
                if len(actors) < n_actors:
                    actors.append(IngestWorker.remote(inspect_config, staging))  # type: ignore[attr-defined]
                    pool.push(actors[-1])
                else:
                    yield finished()
            pool.submit(lambda actor, c: actor.process.remote(c), chunk)
        while pool.has_next():
            yield finished()
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, StorageError):
            raise err.cause from None  # one line: the warehouse could not be written
        raise
    finally:
        bar.close()
        for actor in actors:
            ray.kill(actor)
