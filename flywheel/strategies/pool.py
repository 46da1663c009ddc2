"""What a strategy reads (``Pool``) and what it returns (``Selection``).

A ``Pool`` is validated once, when it is built; strategies trust it afterwards.
Shapes: N samples, C classes, D embedding dimensions, T MC-dropout passes,
M already-labelled samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from flywheel.strategies.errors import InvalidPoolError

FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.int64]

# Rows of probabilities must sum to 1 within this (float32 softmax outputs drift a little).
_PROB_SUM_TOL = 1e-3


@dataclass(frozen=True, eq=False)  # identity equality: == on arrays is elementwise
class Pool:
    """The unlabelled samples a strategy chooses from, with what scoring learned.

    Arrays are read-only NumPy views of what the caller passed, not copies (a pool of
    1M x 128 float32 embeddings costs no second 512 MB): do not change them afterwards.
    None means "not produced yet" (a cold start has only ``sample_ids``).

    >>> pool = Pool(sample_ids=["a", "b"], probs=[[0.9, 0.1], [0.5, 0.5]], class_names=["x", "y"])
    >>> len(pool), pool.num_classes
    (2, 2)
    """

    # Anything array-like is accepted and converted; the annotations give the stored type.
    sample_ids: npt.NDArray[Any]  # (N,) str, unique
    probs: FloatArray | None = None  # (N, C) class probabilities, rows sum to 1
    embeddings: FloatArray | None = None  # (N, D) float, usually float32
    mc_probs: FloatArray | None = None  # (T, N, C) MC-dropout probabilities, T >= 2
    weak_labels: IntArray | None = None  # (N,) int class index, -1 = no weak label
    class_names: Sequence[str] = field(default_factory=tuple)  # (C,)
    # (M, D) embeddings of samples already labelled: centers that diversity must cover.
    labelled_embeddings: FloatArray | None = None

    def __post_init__(self) -> None:
        ids = _readonly(np.asarray(self.sample_ids))
        if ids.ndim != 1:
            raise InvalidPoolError(f"sample_ids must be 1-D, got shape {ids.shape}")
        if len(set(ids.tolist())) != len(ids):
            raise InvalidPoolError("sample_ids must be unique; deduplicate the pool first")
        object.__setattr__(self, "sample_ids", ids)
        names = tuple(str(name) for name in self.class_names)
        if len(set(names)) != len(names):
            raise InvalidPoolError(f"class_names must be unique, got {list(names)}")
        object.__setattr__(self, "class_names", names)
        n = len(ids)
        set_ = object.__setattr__
        set_(self, "probs", _check_probs("probs", self.probs, n, 0, "N, C"))
        set_(self, "mc_probs", _check_probs("mc_probs", self.mc_probs, n, 1, "T, N, C"))
        for name in ("embeddings", "labelled_embeddings"):
            value = getattr(self, name)
            set_(self, name, None if value is None else _as_floats(name, value, "rows, D"))
        object.__setattr__(self, "weak_labels", _check_weak_labels(self.weak_labels, n))
        self._check_consistent()

    def _check_consistent(self) -> None:
        widths = {
            "probs": None if self.probs is None else self.probs.shape[1],
            "mc_probs": None if self.mc_probs is None else self.mc_probs.shape[2],
            "class_names": len(self.class_names) or None,
        }
        given = {k: v for k, v in widths.items() if v is not None}
        if len(set(given.values())) > 1:
            raise InvalidPoolError(f"class counts disagree: {given}")
        if self.mc_probs is not None and self.mc_probs.shape[0] < 2:
            raise InvalidPoolError("mc_probs needs T >= 2 dropout passes, got 1")
        if self.embeddings is not None and self.embeddings.shape[0] != len(self):
            raise InvalidPoolError(
                f"embeddings has {self.embeddings.shape[0]} rows for {len(self)} samples"
            )
        if self.labelled_embeddings is not None and (
            self.embeddings is None or self.labelled_embeddings.shape[1] != self.embeddings.shape[1]
        ):
            raise InvalidPoolError("labelled_embeddings needs embeddings of the same width D")
        if self.weak_labels is not None and self.weak_labels.size:
            top = int(self.weak_labels.max())
            if given and top >= max(given.values()):
                raise InvalidPoolError(f"weak label {top} is not a class index")

    def __len__(self) -> int:
        return len(self.sample_ids)

    @property
    def num_classes(self) -> int:
        """C, from whichever of class_names, probs or mc_probs is present (0 if none)."""
        if self.class_names:
            return len(self.class_names)
        for arr in (self.probs, self.mc_probs):
            if arr is not None:
                return int(arr.shape[-1])
        return 0

    def subset(self, indices: IntArray) -> Pool:
        """The samples at ``indices`` (N',), as a new pool. Skips validation: a subset
        of a valid pool is valid. ``labelled_embeddings`` is kept whole."""
        changes: dict[str, Any] = {"sample_ids": _readonly(self.sample_ids[indices])}
        for name in ("probs", "embeddings", "weak_labels"):
            arr = getattr(self, name)
            changes[name] = None if arr is None else _readonly(arr[indices])
        if self.mc_probs is not None:
            changes["mc_probs"] = _readonly(self.mc_probs[:, indices])
        return self._trusted_replace(**changes)

    def with_probs(self, probs: FloatArray, mc_probs: FloatArray | None = None) -> Pool:
        """The same pool with ``probs`` (N, C) and ``mc_probs`` (T, N, C) replaced; the
        caller vouches for them (they come from this pool's own, re-weighted)."""
        return self._trusted_replace(
            probs=_readonly(probs), mc_probs=None if mc_probs is None else _readonly(mc_probs)
        )

    def with_labelled(self, labelled_embeddings: FloatArray) -> Pool:
        """The same pool with ``labelled_embeddings`` (M, D) replaced; the caller
        vouches for them (rows of this pool's own ``embeddings``)."""
        return self._trusted_replace(labelled_embeddings=_readonly(labelled_embeddings))

    def _trusted_replace(self, **changes: Any) -> Pool:
        # Bypasses __init__ (and so validation) on purpose: only for derived pools.
        pool = object.__new__(Pool)
        for name in self.__dataclass_fields__:
            object.__setattr__(pool, name, changes.get(name, getattr(self, name)))
        return pool


@dataclass(frozen=True, eq=False)
class Selection:
    """The samples a strategy chose, best first.

    ``scores`` are the strategy's own (higher = picked earlier); ``ranks`` run 1..k.
    """

    indices: IntArray  # (k,) positions in the pool, unique, best first
    sample_ids: npt.NDArray[Any]  # (k,)
    scores: npt.NDArray[np.float64]  # (k,)
    ranks: IntArray  # (k,) 1-based
    strategy: str

    @classmethod
    def from_picks(
        cls, pool: Pool, indices: IntArray, scores: FloatArray, strategy: str
    ) -> Selection:
        idx = np.asarray(indices, dtype=np.int64)
        return cls(
            indices=idx,
            sample_ids=pool.sample_ids[idx],
            scores=np.asarray(scores, dtype=np.float64),
            ranks=np.arange(1, len(idx) + 1, dtype=np.int64),
            strategy=strategy,
        )

    def __len__(self) -> int:
        return len(self.indices)

    def to_arrow(self) -> pa.Table:
        """Columns sample_id, rank, score, strategy: one row per pick."""
        return pa.table(
            {
                "sample_id": pa.array(self.sample_ids.tolist(), pa.string()),
                "rank": pa.array(self.ranks, pa.int64()),
                "score": pa.array(self.scores, pa.float64()),
                "strategy": pa.array([self.strategy] * len(self), pa.string()),
            }
        )


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


def _as_floats(name: str, value: Any, dims: str) -> FloatArray:
    """``value`` as a read-only, finite float array with ``len(dims)`` axes."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise InvalidPoolError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != len(dims.split(",")):
        raise InvalidPoolError(f"{name} must have shape ({dims}), got {arr.shape}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InvalidPoolError(f"{name} holds NaN or infinite values")
    return _readonly(arr)


def _check_probs(name: str, value: Any, n: int, n_axis: int, dims: str) -> FloatArray | None:
    """``value`` as probabilities whose axis ``n_axis`` has length N and last axis C >= 2."""
    if value is None:
        return None
    arr = _as_floats(name, value, dims)
    if arr.shape[n_axis] != n:
        raise InvalidPoolError(f"{name} must have shape ({dims}) with N={n}, got {arr.shape}")
    if arr.shape[-1] < 2:
        raise InvalidPoolError(f"{name} needs at least 2 classes, got {arr.shape[-1]}")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise InvalidPoolError(f"{name} must lie in [0, 1]; pass softmax outputs, not logits")
    if arr.size and np.abs(arr.sum(axis=-1) - 1).max() > _PROB_SUM_TOL:
        raise InvalidPoolError(f"{name} rows must sum to 1; pass softmax outputs, not logits")
    return arr


def _check_weak_labels(value: Any, n: int) -> IntArray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or arr.shape != (n,):
        raise InvalidPoolError(f"weak_labels must be ({n},) integers, got {arr.shape} {arr.dtype}")
    if arr.size and arr.min() < -1:
        raise InvalidPoolError("weak_labels must be class indices or -1 (no weak label)")
    return _readonly(arr.astype(np.int64, copy=False))
