"""Skip-known: never pick a sample that is already labelled or queued, and count it as
covered: its embedding joins ``labelled_embeddings``, the centers that a diversity
strategy (k-center) treats as chosen already."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from flywheel.strategies.base import Modifier, Strategy
from flywheel.strategies.errors import BudgetTooLargeError, EmptyPoolError
from flywheel.strategies.pool import FloatArray, IntArray, Pool


class SkipKnown(Modifier):
    """Removes ``known_ids`` from the pool before the inner strategy ranks it. Put it
    outermost when composing (``compose`` does), so quotas see only eligible samples.

    The known samples still in the pool (labelled or queued, and scored by the same
    model) become ``labelled_embeddings`` of the pool the inner strategy sees, beside
    any the caller gave, so core-set selection does not pick next to them."""

    label = "skip-known"

    def __init__(self, inner: Strategy, known_ids: Iterable[str]) -> None:
        super().__init__(inner)
        self.known_ids = frozenset(known_ids)

    def _choose(
        self, pool: Pool, budget: int, rng: np.random.Generator
    ) -> tuple[IntArray, FloatArray]:
        known = self.known_ids
        is_new = np.fromiter((i not in known for i in pool.sample_ids.tolist()), bool, len(pool))
        keep = np.flatnonzero(is_new)  # (N',)
        skipped = len(pool) - len(keep)
        if not len(keep):
            raise EmptyPoolError(
                f"all {skipped} samples in the pool are already labelled or queued; "
                "ingest more data first"
            )
        if budget > len(keep):
            where = f"the pool after skipping {skipped} already labelled or queued"
            raise BudgetTooLargeError(budget, len(keep), where)
        idx, scores = self.inner._choose(_covered(pool, is_new).subset(keep), budget, rng)
        return keep[idx], scores


def _covered(pool: Pool, is_new: np.ndarray) -> Pool:
    """``pool`` with the embeddings of its known samples (``~is_new``) added to its
    ``labelled_embeddings`` (M, D); unchanged without embeddings or known samples."""
    if pool.embeddings is None or is_new.all():
        return pool
    known = pool.embeddings[~is_new]  # (K, D), a copy: boolean indexing
    if pool.labelled_embeddings is not None and len(pool.labelled_embeddings):
        known = np.concatenate([pool.labelled_embeddings, known])
    return pool.with_labelled(known)
