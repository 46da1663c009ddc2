"""The per-worker training function that Ray Train runs on every data-parallel worker.

Each worker streams its shard of the ``train`` dataset (Ray Data's equal streaming
split, read from the lake block by block, shuffled in a local buffer), decodes each
batch with its modality's ``collate``, and trains a replica that ``prepare_model``
wraps in DistributedDataParallel, so gradients are averaged across workers each step.
Every rank runs the same number of steps per epoch (the split gives every rank as many
rows; a rank whose stream ends early repeats its last batch) because DDP's all-reduce
needs every rank at every step. For evaluation each rank scores the ``eval`` rows whose
id hashes to it; the counts (confusion matrix, calibration bins) are summed across
ranks with ``all_reduce``, so metrics are exact for any worker count.
Rank 0 sends each epoch's metrics to the driver's progress queue and returns the final
checkpoint bytes (Ray Train hands rank 0's return value to the driver).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.distributed as dist
import torch.nn.functional as F

from flywheel.modalities import Modality, get_modality
from flywheel.networks import Classifier
from flywheel.train.checkpoint import Checkpoint
from flywheel.train.metrics import N_BINS, count_calibration, count_confusion, summarize

# Rows each worker shuffles its stream in: a local buffer, since a whole-set shuffle
# would gather the data (4,096 photos of 20 KB: 80 MB, whatever the data set's size).
SHUFFLE_BUFFER_ROWS = 4096
# A worker keeps its shard in memory for later epochs when it is at most this big: a
# bound, not a share of the data, so memory stays flat however large the lake grows.
REPLAY_BYTES = 256 * 2**20


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs besides the data (which travels by object reference)."""

    modality: str
    arch: str
    class_names: tuple[str, ...]
    input_spec: dict[str, Any]
    epochs: int
    batch_size: int
    lr: float
    seed: int
    freeze_backbone: bool
    model_version: str


def train_loop_per_worker(config: dict[str, Any]) -> bytes | None:
    """Ray Train entry point. ``config``: loop (WorkerConfig), n_train (rows of the whole
    training set), init_state (object ref to the starting state dict), progress (a
    ``ray.util.queue.Queue`` or None); the ``train`` and ``eval`` datasets come from
    Ray Train. Returns the checkpoint bytes on rank 0."""
    import ray
    import ray.train
    import ray.train.torch

    cfg: WorkerConfig = config["loop"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg.seed * 1009 + rank)  # dropout masks: one stream per rank and seed
    train_rows = ray.train.get_dataset_shard("train")
    eval_rows = ray.train.get_dataset_shard("eval")
    modality = get_modality(cfg.modality)
    net = modality.build_model(len(cfg.class_names), cfg.arch, pretrained=False)
    net.load_state_dict(ray.get(config["init_state"]))
    if cfg.freeze_backbone:
        net.freeze_backbone()
    model = ray.train.torch.prepare_model(net)  # DDP when world > 1; moved to the device
    device = ray.train.torch.get_device()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr)
    steps = math.ceil((config["n_train"] // world) / cfg.batch_size)
    train_replay, eval_replay = _Replay(), _Replay()
    for epoch in range(1, cfg.epochs + 1):
        start = time.monotonic()
        if train_replay.table is not None:
            rng = np.random.default_rng([cfg.seed, epoch, rank])
            batches = table_batches(train_replay.table, cfg.batch_size, steps, rng)
        else:
            batches = train_replay.record(
                train_rows.iter_batches(
                    batch_size=cfg.batch_size,
                    batch_format="pyarrow",
                    local_shuffle_buffer_size=max(SHUFFLE_BUFFER_ROWS, cfg.batch_size),
                    local_shuffle_seed=cfg.seed * 1_000_003 + epoch * 1009 + rank,
                )
            )
        counted = _Counted(batches)
        loss = train_epoch(model, optimizer, modality, cfg, counted, steps, device)
        if epoch == 1 and config["progress"] is not None:
            # Every rank says where it ran and how many rows it read (lineage, and the
            # proof that a multi-node run spread its work).
            node = ray.get_runtime_context().get_node_id()
            config["progress"].put({"kind": "worker", "rank": rank, "node": node,
                                    "rows": counted.rows})  # fmt: skip
        if eval_replay.table is not None:
            held = table_slices(eval_replay.table, cfg.batch_size)
        else:
            stream = eval_rows.iter_batches(batch_size=cfg.batch_size, batch_format="pyarrow")
            held = eval_replay.record(_my_rows(stream, rank, world))
        metrics = evaluate(net, modality, cfg, held, device)
        if epoch == 1:
            train_replay.settle(device)
            eval_replay.settle(device)
        report = {"epoch": epoch, "epochs": cfg.epochs, "train_loss": loss, **metrics}
        report["seconds"] = time.monotonic() - start
        if rank == 0 and config["progress"] is not None:
            config["progress"].put(report)  # (ray.train.report would log each call at INFO)
    if rank != 0:
        return None
    return Checkpoint.for_model(
        net, cfg.modality, cfg.arch, cfg.class_names, cfg.model_version, cfg.input_spec
    ).to_bytes()


class _Counted:
    """Batches passed through, counting their rows."""

    def __init__(self, batches: Iterable[pa.Table]) -> None:
        self.batches, self.rows = batches, 0

    def __iter__(self) -> Iterator[pa.Table]:
        for batch in self.batches:
            self.rows += batch.num_rows
            yield batch


class _Replay:
    """A stream read once from the lake and, when every rank's copy fits in
    ``REPLAY_BYTES``, replayed from memory in later epochs (small data sets would
    otherwise pay Ray Data's start-up per epoch). Every rank takes the same decision,
    so the streaming split's consumers stay in step."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []
        self.size = 0
        self.over = False
        self.table: pa.Table | None = None

    def record(self, batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
        for batch in batches:
            if not self.over:
                self.size += batch.nbytes
                self.over = self.size > REPLAY_BYTES
                self.parts = [] if self.over else [*self.parts, batch]
            yield batch

    def settle(self, device: torch.device) -> None:
        """After the first epoch: keep the copy if no rank went over (or read nothing)."""
        mine = torch.tensor([float(self.over or not self.parts)], dtype=torch.float64)
        if float(_all_reduce(mine, device)[0]) == 0.0:
            self.table = pa.concat_tables(self.parts)
        self.parts = []


def _exactly(batches: Iterable[pa.Table], steps: int) -> Iterator[pa.Table]:
    """``steps`` batches: a stream that ends early repeats its last batch, extra ones
    are read (a streaming split must be drained every epoch) but not yielded."""
    last = None
    done = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        last = batch
        if done < steps:
            done += 1
            yield batch
    while last is not None and done < steps:
        done += 1
        yield last


def table_batches(
    rows: pa.Table, batch_size: int, steps: int, rng: np.random.Generator
) -> Iterator[pa.Table]:
    """``steps`` shuffled batches of an in-memory table, wrapping around (for in-process
    training such as the benchmark's learner)."""
    order = np.resize(rng.permutation(rows.num_rows), steps * batch_size)
    for step in range(steps):
        yield rows.take(pa.array(order[step * batch_size : (step + 1) * batch_size]))


def table_slices(rows: pa.Table, batch_size: int) -> Iterator[pa.Table]:
    """An in-memory table in consecutive batches, for ``evaluate``."""
    for start in range(0, rows.num_rows, batch_size):
        yield rows.slice(start, batch_size)


def _my_rows(batches: Iterable[pa.Table], rank: int, world: int) -> Iterator[pa.Table]:
    """The rows of ``batches`` whose sample_id hashes to ``rank``: disjoint slices that
    together cover every row, whatever order the stream delivers them in."""
    for batch in batches:
        if world == 1:
            yield batch
            continue
        ids = batch["sample_id"].to_pylist()
        mine = [zlib.crc32(s.encode()) % world == rank for s in ids]
        yield batch.filter(pa.array(mine, pa.bool_()))


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    modality: Modality,
    cfg: WorkerConfig,
    batches: Iterable[pa.Table],
    steps: int,
    device: torch.device,
) -> float:
    """One pass of exactly ``steps`` batches over this rank's streamed shard; returns
    the mean weighted loss across all ranks."""
    model.train()
    total = torch.zeros(2, dtype=torch.float64)  # (weighted loss sum, weight sum)
    for batch in _exactly(batches, steps):
        x = modality.collate(batch["media"].to_pylist(), cfg.input_spec).to(device)  # (B, C, H, W)
        y = torch.tensor(batch["label"].to_numpy(), dtype=torch.long, device=device)  # (B,)
        w = torch.tensor(batch["weight"].to_numpy(), device=device)  # (B,)
        per_sample = F.cross_entropy(model(x), y, reduction="none")  # (B,)
        loss = (per_sample * w).sum() / w.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        weight = w.sum().detach().double().cpu()
        total += torch.stack([loss.detach().double().cpu() * weight, weight])
    total = _all_reduce(total, device)
    return float(total[0] / total[1])


@torch.no_grad()
def evaluate(
    net: Classifier,
    modality: Modality,
    cfg: WorkerConfig,
    rows: Iterable[pa.Table],
    device: torch.device,
) -> dict[str, Any]:
    """Metrics of ``net`` on this rank's batches ``rows``, summed over all ranks (the metrics
    dict of ``flywheel.train.metrics.summarize``)."""
    k = len(cfg.class_names)
    was_training = net.training
    net.eval()
    confusion = np.zeros((k, k), dtype=np.int64)
    calibration = np.zeros((3, N_BINS), dtype=np.float64)
    for batch in rows:
        if batch.num_rows == 0:
            continue
        x = modality.collate(batch["media"].to_pylist(), cfg.input_spec).to(device)
        probs = net(x).softmax(dim=-1).cpu().numpy()  # (B, K)
        labels = batch["label"].to_numpy()  # (B,)
        preds = probs.argmax(axis=1)
        confusion += count_confusion(labels, preds, k)
        calibration += count_calibration(probs.max(axis=1), preds == labels)
    totals = torch.from_numpy(np.concatenate([confusion.ravel(), calibration.ravel()]))
    totals = _all_reduce(totals, device)
    confusion = totals[: k * k].numpy().reshape(k, k).astype(np.int64)
    calibration = totals[k * k :].numpy().reshape(3, -1)
    net.train(was_training)
    return summarize(confusion, calibration, cfg.class_names)


def _all_reduce(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` summed across workers, on the CPU (``t`` itself with one worker). The sum
    runs on ``device``: NCCL reduces GPU tensors only."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return t
    on_device = t.to(device)
    dist.all_reduce(on_device, op=dist.ReduceOp.SUM)
    return on_device.cpu()
