"""A verification batch from samples someone else chose: the members of one group of a
split class (``flywheel report verify-cluster``), asked as "is this CLASS?".

The caller names the members (most typical first); selection does the rest the same
way as any round: drop what is already labelled or queued, record one ``selections``
round of kind ``verify`` with the model's prediction as the prefill, enqueue it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flywheel.config import Settings
from flywheel.lake import Lake
from flywheel.selection.pool import build_pool, known_sample_ids, pool_samples, predictions
from flywheel.selection.run import (
    SelectConfig,
    SelectSummary,
    _enqueue,
    _next_round,
    _rows,
    commit_selection,
)
from flywheel.strategies import Selection


def select_for_verification(
    settings: Settings,
    members: Sequence[str],
    strategy: str,
    queue: str,
    model: dict[str, object],
    budget: int | None = None,
) -> SelectSummary:
    """Record and enqueue ``members`` (sample ids, most typical first) not yet labelled
    or queued, at most ``budget`` of them, as verify tasks of ``queue``; ``model`` is
    the models row whose predictions fill the prefill; ``strategy`` names the round."""
    lake = Lake(settings)
    version = str(model["version"])
    class_names = [str(c) for c in model["class_names"]]  # type: ignore[attr-defined]
    known = known_sample_ids(lake, settings)
    unknown = [m for m in members if m not in known]
    fresh = unknown[:budget]
    samples = pool_samples(lake, str(model["modality"]), fresh)
    preds = predictions(lake, version, ["probs"])
    pool, pool_rows = build_pool(samples, preds, ("probs",), class_names)
    position = {sid: i for i, sid in enumerate(pool.sample_ids.tolist())}
    indices = np.array([position[s] for s in fresh if s in position], dtype=np.int64)
    scores = 1.0 - np.arange(len(indices)) / max(1, len(indices))  # typical first
    selection = Selection.from_picks(pool, indices, scores, strategy)
    round_ = _next_round(lake)
    config = SelectConfig(strategy, max(1, len(indices)), queue, version)
    picks = _rows(selection, round_, version, "verify", pool_rows, preds, class_names, config)
    skipped = len(members) - len(unknown)
    summary = SelectSummary(round_, strategy, version, len(members), skipped, picks, queue)
    if picks.num_rows:
        summary.picks = picks = commit_selection(lake, picks)
        summary.round = int(picks["round"][0].as_py())
        _enqueue(settings, queue, picks, summary)
    return summary
