"""The per-worker training function that Ray Train runs on every data-parallel worker.

Each worker takes every ``world``-th row of the training and evaluation tables (its
shard), decodes batches with its modality's ``collate``, and trains a replica that
``prepare_model`` wraps in DistributedDataParallel, so gradients are averaged across
workers each step. Every rank runs the same number of steps per epoch (shorter shards
wrap around) because DDP's all-reduce needs every rank at every step. Evaluation counts
(confusion matrix, calibration bins, loss) are summed across ranks with ``all_reduce``.
Rank 0 sends each epoch's metrics to the driver's progress queue and returns the final
checkpoint bytes (Ray Train hands rank 0's return value to the driver).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.distributed as dist
import torch.nn.functional as F

from flywheel.modalities import Modality, get_modality
from flywheel.train.checkpoint import Checkpoint
from flywheel.train.metrics import N_BINS, count_calibration, count_confusion, summarize
from flywheel.train.network import Classifier


@dataclass(frozen=True)
class LoopConfig:
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
    """Ray Train entry point. ``config``: loop (LoopConfig), train / eval / init_state
    (object refs to two Arrow tables and the starting state dict), progress (a
    ``ray.util.queue.Queue`` or None). Returns the checkpoint bytes on rank 0."""
    import ray
    import ray.train
    import ray.train.torch

    cfg: LoopConfig = config["loop"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg.seed * 1009 + rank)  # dropout masks: one stream per rank and seed
    train_rows = _shard(ray.get(config["train"]), rank, world)
    eval_rows = _shard(ray.get(config["eval"]), rank, world)
    modality = get_modality(cfg.modality)
    net = modality.build_model(len(cfg.class_names), cfg.arch, pretrained=False)
    net.load_state_dict(ray.get(config["init_state"]))
    if cfg.freeze_backbone:
        net.freeze_backbone()
    model = ray.train.torch.prepare_model(net)  # DDP when world > 1; moved to the device
    device = ray.train.torch.get_device()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr)
    steps = math.ceil(math.ceil(config["n_train"] / world) / cfg.batch_size)
    for epoch in range(1, cfg.epochs + 1):
        start = time.monotonic()
        rng = np.random.default_rng([cfg.seed, epoch, rank])
        loss = _train_epoch(model, optimizer, modality, cfg, train_rows, steps, rng, device)
        metrics = evaluate(net, modality, cfg, eval_rows, device)
        report = {"epoch": epoch, "epochs": cfg.epochs, "train_loss": loss, **metrics}
        report["seconds"] = time.monotonic() - start
        if rank == 0 and config["progress"] is not None:
            config["progress"].put(report)  # (ray.train.report would log each call at INFO)
    if rank != 0:
        return None
    return Checkpoint.for_model(
        net, cfg.modality, cfg.arch, cfg.class_names, cfg.model_version, cfg.input_spec
    ).to_bytes()


def _shard(table: pa.Table, rank: int, world: int) -> pa.Table:
    """Rows rank, rank + world, rank + 2*world, ...: a deterministic disjoint shard."""
    return table.take(pa.array(np.arange(rank, table.num_rows, world)))


def _train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    modality: Modality,
    cfg: LoopConfig,
    rows: pa.Table,
    steps: int,
    rng: np.random.Generator,
    device: torch.device,
) -> float:
    """One pass of ``steps`` batches over a shuffled shard; returns the mean weighted
    loss across all ranks."""
    model.train()
    # Shuffle, then wrap around so every rank has steps * batch_size indices.
    order = np.resize(rng.permutation(rows.num_rows), steps * cfg.batch_size)
    total = torch.zeros(2, dtype=torch.float64)  # (weighted loss sum, weight sum)
    for step in range(steps):
        batch = rows.take(pa.array(order[step * cfg.batch_size : (step + 1) * cfg.batch_size]))
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
    net: Classifier, modality: Modality, cfg: LoopConfig, rows: pa.Table, device: torch.device
) -> dict[str, Any]:
    """Metrics of ``net`` on this rank's ``rows``, summed over all ranks (the metrics
    dict of ``flywheel.train.metrics.summarize``)."""
    k = len(cfg.class_names)
    was_training = net.training
    net.eval()
    confusion = np.zeros((k, k), dtype=np.int64)
    calibration = np.zeros((3, N_BINS), dtype=np.float64)
    for start in range(0, rows.num_rows, cfg.batch_size):
        batch = rows.slice(start, cfg.batch_size)
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
