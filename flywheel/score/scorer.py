"""The stateful callable that Ray Data's ``map_batches`` runs in an actor pool: the
model is loaded once per actor (``__init__``) and each Arrow batch of samples becomes an
Arrow batch of predictions (``__call__``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import torch

from flywheel.config import Settings
from flywheel.lake import PREDICTIONS, media_of
from flywheel.modalities import get_modality
from flywheel.score import uncertainty
from flywheel.train import load_checkpoint


@dataclass(frozen=True)
class ScorerConfig:
    """What every scoring actor needs; shipped to the actors by Ray."""

    settings: Settings
    model_version: str
    checkpoint_uri: str
    mc_passes: int = 10  # T: MC-dropout passes for BALD; 0 turns BALD off
    seed: int = 0
    threads: int | None = None  # torch threads of a CPU actor (None: Ray's default, 1)


class Scorer:
    """Holds one model; scores Arrow batches with columns sample_id, media, media_uri."""

    def __init__(self, config: ScorerConfig) -> None:
        import ray

        self.config = config
        checkpoint = load_checkpoint(config.checkpoint_uri, config.settings)
        self.class_names = list(checkpoint.class_names)
        self.modality = get_modality(checkpoint.modality)
        self.spec = checkpoint.input_spec
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu" and config.threads:
            torch.set_num_threads(config.threads)
        self.model = checkpoint.model.to(self.device).eval()
        self.node = ray.get_runtime_context().get_node_id()
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)

    @torch.inference_mode()
    def __call__(self, batch: pa.Table) -> pa.Table:
        media = media_of(batch, self.config.settings.s3)  # inline bytes, else the object
        x = self.modality.collate(media, self.spec).to(self.device)  # (B, C, H, W)
        logits, embedding = self.model.forward_with_embedding(x)  # (B, K), (B, D)
        probs = torch.softmax(logits, dim=1).cpu().numpy().astype(np.float32)
        mc = self._mc_dropout(embedding)  # (T, B, K) or None
        return self._rows(batch, probs, embedding.cpu().numpy().astype(np.float32), mc)

    def _mc_dropout(self, embedding: torch.Tensor) -> np.ndarray | None:
        """T stochastic passes through the head (dropout on, batch norm frozen); the
        backbone's embedding is shared, which is what makes BALD cheap here."""
        if self.config.mc_passes <= 0:
            return None
        self.model.mc_dropout()
        try:
            passes = [
                torch.softmax(self.model.head(embedding), dim=1)
                for _ in range(self.config.mc_passes)
            ]
        finally:
            self.model.eval()
        return torch.stack(passes).cpu().numpy().astype(np.float32)

    def _rows(
        self, batch: pa.Table, probs: np.ndarray, emb: np.ndarray, mc: np.ndarray | None
    ) -> pa.Table:
        n = probs.shape[0]
        top = probs.argmax(axis=1)
        names = np.asarray(self.class_names, dtype=object)
        columns = {
            "sample_id": batch.column("sample_id"),
            "model_version": pa.array([self.config.model_version] * n, pa.string()),
            "probs": _list_array(probs),
            "predicted_label": pa.array(names[top], pa.string()),
            "confidence": pa.array(probs[np.arange(n), top], pa.float32()),
            "embedding": _list_array(emb),
            "least_confidence": pa.array(uncertainty.least_confidence(probs)),
            "margin": pa.array(uncertainty.margin(probs)),
            "entropy": pa.array(uncertainty.entropy(probs)),
            "bald": pa.array(uncertainty.bald(mc) if mc is not None else [None] * n, pa.float32()),
            "mc_probs": (
                _list_array(mc.transpose(1, 0, 2).reshape(n, -1))
                if mc is not None
                else pa.nulls(n, pa.list_(pa.float32()))
            ),
            "scorer_node": pa.array([self.node] * n, pa.string()),
            "scored_at": pa.array([datetime.now(UTC)] * n, PREDICTIONS.field("scored_at").type),
        }
        return pa.table(columns, schema=PREDICTIONS)


def _list_array(values: np.ndarray) -> pa.ListArray:
    """(N, D) float32 -> Arrow list<float32> of N rows, without a Python loop."""
    n, d = values.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), pa.float32()))
