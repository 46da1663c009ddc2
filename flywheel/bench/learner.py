"""Train, evaluate and score with the project's own training code, in-process.

The network comes from the image modality's ``build_model`` and every epoch is
``flywheel.train.loop``'s ``train_epoch`` and ``evaluate``: the functions each Ray
Train worker runs, here with one worker and no process group (their all-reduce is a
no-op then). Starting Ray Train per round would cost more than the round itself on a
small machine. Scoring mirrors ``flywheel.score.scorer``: one pass for probabilities
and the penultimate-layer embedding, then T MC-dropout passes through the head only.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import torch

from flywheel.bench.config import BenchConfig
from flywheel.bench.data import MODALITY, BenchData
from flywheel.modalities import get_modality
from flywheel.networks import Classifier
from flywheel.train import WorkerConfig, evaluate, table_batches, table_slices, train_epoch

F32 = npt.NDArray[np.float32]
SCORE_BATCH = 256  # inference batch: no gradients, so larger than the training batch


@dataclass(frozen=True)
class Scores:
    """What scoring learned about P pool samples."""

    probs: F32  # (P, C) softmax of one deterministic pass
    embeddings: F32  # (P, D) penultimate-layer embedding
    mc_probs: F32 | None  # (T, P, C) MC-dropout softmax, None when not asked for


class Learner:
    """Fits a fresh network on labelled rows and measures or scores it."""

    def __init__(self, config: BenchConfig, data: BenchData) -> None:
        self.modality = get_modality(MODALITY)
        self.loop = WorkerConfig(
            modality=MODALITY,
            arch=data.arch,
            class_names=data.class_names,
            input_spec=data.input_spec,
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=0,
            freeze_backbone=False,
            model_version="bench",
        )
        self.min_steps = config.min_steps
        self.mc_passes = config.mc_passes
        self.device = torch.device("cpu")
        self._fitted: dict[Hashable, dict[str, torch.Tensor]] = {}

    def steps_per_epoch(self, n_rows: int) -> int:
        """One pass over ``n_rows`` (the last batch wraps around), raised so that all
        epochs together make at least ``min_steps`` optimizer steps."""
        return max(
            math.ceil(n_rows / self.loop.batch_size), math.ceil(self.min_steps / self.loop.epochs)
        )

    def fit(self, rows: pa.Table, seed: int) -> Classifier:
        """A network trained from scratch on ``rows`` (media, label, weight); ``seed``
        fixes its initial weights, batch order and dropout masks."""
        torch.manual_seed(seed)
        net = self.modality.build_model(len(self.loop.class_names), self.loop.arch)
        net.to(self.device)
        steps = self.steps_per_epoch(rows.num_rows)
        return self._train(net, rows, seed, self.loop.epochs, steps)

    def fit_cached(self, key: Hashable, rows: pa.Table, seed: int) -> Classifier:
        """``fit``, remembered under ``key``: the weak-label mode's round 0 is the same
        network for every strategy at a seed, so it trains once per process."""
        if key not in self._fitted:
            self._fitted[key] = self.fit(rows, seed).state_dict()
        net = self.modality.build_model(len(self.loop.class_names), self.loop.arch)
        net.load_state_dict(self._fitted[key])
        return net.to(self.device)

    def fine_tune(self, net: Classifier, rows: pa.Table, seed: int, epochs: int) -> Classifier:
        """``net`` trained further, in place, for ``epochs`` passes over ``rows`` with a
        fresh optimizer, as the loop fine-tunes the promoted model."""
        torch.manual_seed(seed)
        steps = math.ceil(rows.num_rows / self.loop.batch_size)
        return self._train(net, rows, seed, epochs, steps)

    def _train(
        self, net: Classifier, rows: pa.Table, seed: int, epochs: int, steps: int
    ) -> Classifier:
        optimizer = torch.optim.AdamW(net.parameters(), lr=self.loop.lr)
        for epoch in range(epochs):
            rng = np.random.default_rng([seed, epoch])
            batches = table_batches(rows, self.loop.batch_size, steps, rng)
            train_epoch(net, optimizer, self.modality, self.loop, batches, steps, self.device)
        return net

    def accuracy(self, net: Classifier, rows: pa.Table) -> float:
        """Top-1 accuracy of ``net`` on ``rows`` (media, label, weight)."""
        metrics: dict[str, Any] = evaluate(
            net, self.modality, self.loop, table_slices(rows, self.loop.batch_size), self.device
        )
        return float(metrics["accuracy"])

    @torch.inference_mode()
    def score(self, net: Classifier, media: pa.Table, with_mc: bool) -> Scores:
        """Probabilities and embeddings of every row of ``media`` (a ``media`` column),
        plus MC-dropout probabilities when ``with_mc``."""
        net.eval()
        probs, embeddings, passes = [], [], []
        for start in range(0, media.num_rows, SCORE_BATCH):
            items = media["media"].slice(start, SCORE_BATCH).to_pylist()
            x = self.modality.collate(items, self.loop.input_spec).to(self.device)  # (B, C, H, W)
            logits, embedding = net.forward_with_embedding(x)  # (B, K), (B, D)
            probs.append(torch.softmax(logits, dim=1).cpu().numpy())
            embeddings.append(embedding.cpu().numpy())
            if with_mc:
                passes.append(self._mc_head(net, embedding))
        return Scores(
            probs=np.concatenate(probs).astype(np.float32),
            embeddings=np.concatenate(embeddings).astype(np.float32),
            mc_probs=np.concatenate(passes, axis=1).astype(np.float32) if passes else None,
        )

    def _mc_head(self, net: Classifier, embedding: torch.Tensor) -> F32:
        """(T, B, K): T passes through the head with dropout on, batch norm frozen."""
        net.mc_dropout()
        try:
            out = [torch.softmax(net.head(embedding), dim=1) for _ in range(self.mc_passes)]
        finally:
            net.eval()
        return torch.stack(out).cpu().numpy()
