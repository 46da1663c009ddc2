"""Train orchestration: check everything up front, read the labelled data at pinned
snapshots, build the starting network, run Ray Train's TorchTrainer, then write the
checkpoint and one ``models`` row.

Nothing is written unless training finished: a bad flag, an unknown ``--from`` version,
a checkpoint that does not fit or a class without data fails before Ray Train starts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import ray
import torch

from flywheel.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_SEED,
    DEFAULT_WEAK_WEIGHT,
    DEFAULT_WORKERS,
    Settings,
)
from flywheel.errors import ConfigError
from flywheel.lake import Change, CommitHook, Head, Lake, commit_fresh, sync_model_events
from flywheel.modalities import Modality, get_modality
from flywheel.networks import CheckpointError, Classifier, load_weights
from flywheel.runtime import ensure_ray
from flywheel.taxonomy import Taxonomy
from flywheel.train.checkpoint import Checkpoint, load_checkpoint, read_init_state, write_object
from flywheel.train.data import TrainingData, read_training_data
from flywheel.train.errors import NoTrainingDataError, TrainError
from flywheel.train.loop import WorkerConfig, train_loop_per_worker
from flywheel.train.metrics import format_confusion
from flywheel.train.registry import Models, model_row
from flywheel.train.stream import MediaSource, dataset_factory, worker_cpus

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    """One training run, as the CLI or a job asks for it."""

    epochs: int = DEFAULT_EPOCHS
    workers: int = DEFAULT_WORKERS
    gpu: bool = False
    from_version: str | None = None  # a models version, or "promoted"
    init_checkpoint: str | None = None  # path or URI: flywheel checkpoint or state dict
    weak_weight: float = (
        DEFAULT_WEAK_WEIGHT  # loss weight of a weak label (a consolidated one weighs 1)
    )
    arch: str | None = None  # default: the parent's, else the modality's default
    freeze_backbone: bool = False
    modality: str | None = None  # default: the only modality in the lake
    taxonomy: str | None = None  # fixes the class list (default: the labels seen)
    batch_size: int = DEFAULT_BATCH_SIZE
    lr: float = DEFAULT_LR
    holdout_fraction: float = 0.2  # share of the labelled pool held out without a test split
    seed: int = DEFAULT_SEED
    # Overrides of the modality's input spec by name, e.g. {"window_s": 0.4} for audio.
    input_overrides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.workers < 1 or self.batch_size < 1:
            raise ConfigError(
                f"epochs, workers and batch size must be >= 1, got "
                f"{self.epochs}, {self.workers} and {self.batch_size}"
            )
        if not 0.0 <= self.weak_weight <= 1.0:
            raise ConfigError(
                f"--weak-weight must be in [0, 1] (a consolidated label weighs 1), "
                f"got {self.weak_weight}"
            )
        if self.from_version and self.init_checkpoint:
            raise ConfigError("give --from or --init-checkpoint, not both")
        if not 0.0 < self.holdout_fraction < 1.0 or self.lr <= 0:
            raise ConfigError(
                f"holdout fraction must be in (0, 1) and lr > 0, "
                f"got {self.holdout_fraction} and {self.lr}"
            )


@dataclass
class TrainSummary:
    """What a run produced: the new model's row, in short."""

    version: str
    parent: str | None
    status: str
    reason: str
    arch: str
    class_names: tuple[str, ...]
    checkpoint_uri: str
    n_train: int
    holdout: dict[str, Any]
    metrics: dict[str, Any]
    seconds: float
    snapshot_ids: dict[str, int | None] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The full confusion table (with per-class scores), then a one-line summary."""
        m = self.metrics
        where = "test split" if self.holdout["kind"] == "test_split" else "held-out slice"
        return [
            f"confusion on the {where} ({m['n']} samples; rows true, columns predicted):",
            format_confusion(m),
            f"{self.version} ({self.status}): accuracy {m['accuracy']:.3f}, macro-F1 "
            f"{m['macro_f1']:.3f}, ECE {m['ece']:.3f} on {m['n']} {where} samples; "
            f"{self.n_train} trained, {len(self.class_names)} classes, {self.arch}, "
            f"{self.seconds:.1f}s -> {self.checkpoint_uri}",
        ]


@dataclass(frozen=True)
class RunStart:
    """Where a run starts: parent version, architecture, data and network."""

    parent: str | None
    arch: str
    data: TrainingData
    model: Classifier


def train(
    settings: Settings,
    config: TrainConfig,
    on_epoch: EpochCallback | None = None,
    before_commit: CommitHook | None = None,
) -> TrainSummary:
    """Train a model version on the lake's labelled data and register it.
    ``on_epoch`` gets each epoch's report (epoch, epochs, train_loss, seconds and the
    metrics dict of ``flywheel.train.metrics``) as it finishes."""
    started = time.monotonic()
    lake = Lake(settings)
    models = Models.read(lake)
    start = prepare_run(lake, models, config)
    version = models.next_version()
    ensure_ray(settings)
    _check_resources(settings, config)
    blob, metrics = _fit(settings, config, start, version, on_epoch)
    summary = _register(lake, models, config, start, version, blob, metrics, before_commit)
    summary.seconds = time.monotonic() - started
    return summary


def _register(
    lake: Lake,
    models: Models,
    config: TrainConfig,
    start: RunStart,
    version: str,
    blob: bytes,
    metrics: dict[str, Any],
    before_commit: CommitHook | None = None,
) -> TrainSummary:
    """Write the checkpoint, then commit the models row. The version and the status are
    decided again from the fresh head on every attempt: a run that another registered
    ``version`` ahead of takes the next free one (its checkpoint written again under it)
    and is a candidate if that run was promoted, so two trainers at once leave what the
    same two runs one after the other leave, and no finished training is thrown away."""
    run_id = uuid.uuid4().hex
    written: dict[str, str] = {}

    def checkpoint(at: str) -> str:
        """The run's checkpoint under ``at`` (a path of this run's own, so no run
        overwrites another's), its header naming ``at``."""
        if at not in written:
            data = blob
            if at != version:
                ckpt = Checkpoint.from_bytes(blob, f"the checkpoint of run {run_id}")
                data = replace(ckpt, model_version=at).to_bytes()
            uri = f"{lake.settings.warehouse.rstrip('/')}/models/{at}/{run_id}/model.pt"
            write_object(uri, data, lake.settings)
            written[at] = uri
        return written[at]

    chosen: list[TrainSummary] = []

    def build(head: Head) -> Change:
        # Only what the version and the status are decided from: no metrics, no configs.
        fresh = Models.of(head.read(["version", "status", "created_at"]), head.snapshot_id)
        at = version if version not in fresh.versions else fresh.next_version()
        status, reason = fresh.decide_status()
        summary = TrainSummary(
            version=at,
            parent=start.parent,
            status=status,
            reason=reason,
            arch=start.arch,
            class_names=start.data.class_names,
            checkpoint_uri=checkpoint(at),
            n_train=start.data.train.num_rows,
            holdout=start.data.holdout,
            metrics=metrics,
            seconds=0.0,
            snapshot_ids={**start.data.snapshot_ids, "models": models.snapshot_id},
        )
        chosen[:] = [summary]
        row = model_row(
            **{k: v for k, v in asdict(summary).items() if k != "seconds"},
            modality=start.data.modality,
            train_config=asdict(config),
            run_id=run_id,
        )
        return Change(append=row, properties={"flywheel.train.version": at})

    sync_model_events(lake)  # an event a crash left unrecorded goes first
    commit_fresh(lake, "models", build, before_commit)
    sync_model_events(lake, before_commit)
    return chosen[0]


def prepare_run(lake: Lake, models: Models, config: TrainConfig) -> RunStart:
    """Everything before training, with no side effects: resolve ``--from`` or
    ``--init-checkpoint``, read and split the data, and build the starting network
    (weights loaded, not yet frozen). Raises the run's user errors."""
    settings = lake.settings
    parent: str | None = None
    header: Checkpoint | None = None
    state = None
    if config.from_version:
        row = models.get(config.from_version)
        parent = row["version"]
        header = load_checkpoint(row["checkpoint_uri"], settings)
        state = header.state_dict
    elif config.init_checkpoint:
        state, header = read_init_state(config.init_checkpoint, settings)
    modality_name = config.modality or (header.modality if header else None)
    if header and config.modality and config.modality != header.modality:
        raise ConfigError(f"{header.source} is a {header.modality} model, not {config.modality}")
    classes = Taxonomy.load(config.taxonomy).classes if config.taxonomy else None
    base = header.class_names if header else ()
    data = read_training_data(
        lake, modality_name, config.weak_weight, classes, base, config.holdout_fraction
    )
    modality = get_modality(data.modality)
    if header and config.arch and config.arch != header.arch:
        raise ConfigError(
            f"{header.source} is a {header.arch} model; drop --arch or use --arch {header.arch}"
        )
    arch = modality.resolve_arch(config.arch or (header.arch if header else None))
    if data.train.num_rows < config.workers:
        raise NoTrainingDataError(
            f"{data.train.num_rows} training samples cannot be split over "
            f"{config.workers} workers; lower --workers"
        )
    with torch.random.fork_rng(devices=[]):  # seeded initial weights; the caller's RNG kept
        torch.manual_seed(config.seed)
        net = modality.build_model(
            len(data.class_names), arch, pretrained=None if state is None else False
        )
    if state is not None:
        same_head = header is not None and header.class_names == data.class_names
        source = header.source if header else str(config.init_checkpoint)
        try:
            load_weights(net, state, source, with_head=same_head)
        except CheckpointError as err:
            if header is not None or config.arch:
                raise
            hint = f"; if it holds another architecture, name it with --arch ({', '.join(modality.archs)})"
            raise CheckpointError(f"{err}{hint}") from None
    return RunStart(parent, arch, data, net)


def _check_resources(settings: Settings, config: TrainConfig) -> None:
    """On the embedded local cluster, a request it can never meet would wait forever.
    (A remote cluster may scale up to meet it, so it is left to Ray there.)"""
    if settings.ray_address is not None:
        return
    kind = "GPU" if config.gpu else "CPU"
    have = int(ray.cluster_resources().get(kind, 0))
    if have < config.workers:
        raise ConfigError(
            f"{config.workers} worker(s) need {config.workers} {kind}(s); the local Ray "
            f"cluster has {have}: lower --workers"
            + (" or drop --gpu" if config.gpu else "")
            + ", or join a bigger cluster with --ray-address"
        )


def _input_spec(modality: Modality, arch: str, overrides: Mapping[str, float]) -> dict[str, Any]:
    """The modality's input spec for ``arch`` with ``overrides`` (known keys only)."""
    spec = modality.input_spec(arch)
    unknown = sorted(set(overrides) - set(spec))
    if unknown:
        raise ConfigError(
            f"{modality.name} input has no setting {', '.join(unknown)}; "
            f"settings: {', '.join(k for k in spec if k not in ('modality', 'arch'))}"
        )
    return {**spec, **overrides}


def _fit(
    settings: Settings,
    config: TrainConfig,
    start: RunStart,
    version: str,
    on_epoch: EpochCallback | None,
) -> tuple[bytes, dict[str, Any]]:
    """Run the TorchTrainer; returns (checkpoint bytes, final metrics)."""
    from ray.data import ExecutionOptions
    from ray.train import DataConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Queue

    progress = Queue(actor_options={"num_cpus": 0})
    modality = get_modality(start.data.modality)
    loop = WorkerConfig(
        modality=start.data.modality,
        arch=start.arch,
        class_names=start.data.class_names,
        input_spec=_input_spec(modality, start.arch, config.input_overrides),
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=config.seed,
        freeze_backbone=config.freeze_backbone,
        model_version=version,
    )
    media = MediaSource.of(Lake(settings), start.data.snapshot_ids["samples"], start.data.modality)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    trainer = TorchTrainer(
        train_loop_per_worker,  # type: ignore[arg-type]  # Ray keeps rank 0's return value
        train_loop_config={
            "loop": loop,
            "n_train": start.data.train.num_rows,
            "init_state": ray.put(start.model.state_dict()),
            "progress": progress,
        },
        datasets={
            "train": dataset_factory(media, start.data.train),
            "eval": dataset_factory(media, start.data.eval),
        },
        # Each worker reads all of `eval` and scores its own hash slice of it (exact
        # metrics for any worker count); `train` is split into equal streaming shards.
        # Preserved order makes a seeded run repeatable on one worker.
        dataset_config=DataConfig(
            datasets_to_split=["train"],
            execution_options=ExecutionOptions(preserve_order=True),
        ),
        scaling_config=ScalingConfig(
            num_workers=config.workers,
            use_gpu=config.gpu,
            resources_per_worker={"CPU": worker_cpus(cpus, config.workers)},
        ),
        # ray.train.RunConfig is Train V2's (logging_config) at run time; mypy sees V1's.
        run_config=RunConfig(  # type: ignore[call-arg]
            name=f"flywheel-train-{version}-{uuid.uuid4().hex[:8]}",
            storage_path=str(settings.root / "ray_train"),
            failure_config=FailureConfig(max_failures=0),
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )
    reports = _run_with_progress(trainer, progress, on_epoch)
    if not reports:
        raise TrainError("training finished without evaluating an epoch")
    return reports["blob"], reports["last"]


def _run_with_progress(
    trainer: Any, progress: Any, on_epoch: EpochCallback | None
) -> dict[str, Any]:
    """``trainer.fit()`` in a thread while this one relays epoch reports."""
    from ray.train import TrainingFailedError

    outcome: dict[str, Any] = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as err:  # re-raised in the caller's thread below
            outcome["error"] = err

    thread = threading.Thread(target=fit, name="flywheel-train-fit", daemon=True)
    thread.start()
    history: list[dict[str, Any]] = []
    workers: list[dict[str, Any]] = []
    while thread.is_alive() or not progress.empty():
        try:
            report = progress.get(timeout=0.5)
        except Exception:  # queue.Empty, from ray.util.queue
            continue
        if report.get("kind") == "worker":
            workers.append({k: report[k] for k in ("rank", "node", "rows")})
            continue
        history.append(report)
        if on_epoch is not None:
            on_epoch(report)
    thread.join()
    ray.kill(progress.actor)
    error = outcome.get("error")
    if isinstance(error, TrainingFailedError):
        raise TrainError(f"training failed: {_describe_failure(error)}") from error
    if error is not None:
        raise error
    if not history:
        return {}
    final = {k: v for k, v in history[-1].items() if k not in ("epoch", "epochs", "seconds")}
    final["workers"] = sorted(workers, key=lambda w: w["rank"])  # where each rank ran
    final["history"] = [
        {k: round(r[k], 6) for k in ("epoch", "train_loss", "accuracy", "ece")} for r in history
    ]
    return {"blob": outcome["result"].return_value, "last": final}


def _describe_failure(error: Exception) -> str:
    """One line for a Ray Train failure: the first worker's innermost exception."""
    failures = getattr(error, "worker_failures", None) or {}
    if failures:
        rank, cause = min(failures.items(), key=lambda item: item[0])
        while cause.__cause__ is not None:
            cause = cause.__cause__
        lines = str(cause).strip().splitlines() or [""]
        return f"worker rank {rank}: {type(cause).__name__}: {lines[-1]}"
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[-1]
