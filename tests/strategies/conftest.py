"""Real data for the strategy tests: scikit-learn's digits and a real LogisticRegression
trained on a small subset, scored on the rest (the pool)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from flywheel.strategies import Pool

TRAIN_SIZE = 200  # a small labelled seed set: the model is decent (~93%) but unsure
MC_PASSES = 8  # bootstrapped models standing in for MC-dropout passes


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray  # (n_train, 64) pixels scaled to [0, 1]
    y_train: np.ndarray  # (n_train,)
    x: np.ndarray  # (N, 64) the pool
    y: np.ndarray  # (N,) true labels of the pool (hidden from strategies)
    probs: np.ndarray  # (N, 10) the model's probabilities
    embeddings: np.ndarray  # (N, 16) float32 PCA of the pixels
    train_embeddings: np.ndarray  # (n_train, 16) float32, same PCA
    mc_probs: np.ndarray  # (T, N, 10) one row per bootstrapped model

    def pool(self, **arrays: object) -> Pool:
        """A pool of every digit with probs, embeddings and MC outputs; ``arrays``
        override or add fields (e.g. weak_labels=...)."""
        fields: dict[str, object] = {
            "sample_ids": np.array([f"digit-{i}" for i in range(len(self.y))], dtype=object),
            "probs": self.probs,
            "embeddings": self.embeddings,
            "mc_probs": self.mc_probs,
            "class_names": [str(c) for c in range(10)],
        }
        fields.update(arrays)
        return Pool(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def digits() -> Digits:
    x_all, y_all = load_digits(return_X_y=True)
    x_all = x_all / 16.0
    order = np.random.default_rng(0).permutation(len(y_all))
    train, rest = order[:TRAIN_SIZE], order[TRAIN_SIZE:]
    model = LogisticRegression(max_iter=2000).fit(x_all[train], y_all[train])
    pca = PCA(n_components=16, random_state=0).fit(x_all[train])
    boot = np.random.default_rng(1)
    mc = []
    for _ in range(MC_PASSES):
        sample = boot.choice(train, size=len(train), replace=True)
        member = LogisticRegression(max_iter=2000).fit(x_all[sample], y_all[sample])
        # A bootstrap can miss a class: put its columns back in the 10-class order.
        probs = np.zeros((len(rest), 10))
        probs[:, member.classes_] = member.predict_proba(x_all[rest])
        mc.append(probs)
    return Digits(
        x_train=x_all[train],
        y_train=y_all[train],
        x=x_all[rest],
        y=y_all[rest],
        probs=model.predict_proba(x_all[rest]),
        embeddings=pca.transform(x_all[rest]).astype(np.float32),
        train_embeddings=pca.transform(x_all[train]).astype(np.float32),
        mc_probs=np.stack(mc),
    )
