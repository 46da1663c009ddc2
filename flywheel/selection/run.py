"""One selection round: rank the pool with a strategy, record the picks with the
model's prefill in the ``selections`` table, and optionally enqueue them for annotation.

Everything that can be wrong with the request (strategy, model, queue, budget) is found
before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from flywheel.config import Settings
from flywheel.errors import ConfigError, NotFoundError
from flywheel.lake import SELECTIONS, Change, CommitHook, Head, Lake, commit_fresh
from flywheel.selection.pool import build_pool, known_sample_ids, pool_samples, predictions
from flywheel.strategies import Selection, Strategy, compose, get_strategy
from flywheel.train import PROMOTED_ALIAS, Models


@dataclass(frozen=True)
class SelectConfig:
    strategy: str
    budget: int
    queue: str | None = None
    model: str = PROMOTED_ALIAS
    class_balanced: bool = False
    prior_shift: bool = False  # estimate target priors from the pool by EM
    target_priors: Mapping[str, float] | None = None  # class -> prior; implies prior shift
    top_k: int = 3
    seed: int | None = None
    # Classes never suggested in a prefill; names the model does not know are ignored
    # (the loop's blocklist may name classes still to come; the CLI checks its own).
    blocklist: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {self.top_k}")


@dataclass
class SelectSummary:
    round: int
    strategy: str
    model_version: str | None
    pool: int
    known_skipped: int
    picks: pa.Table
    queue: str | None = None
    enqueued: int = 0
    already_queued: int = 0
    gold_added: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        model = self.model_version or "no model (cold start)"
        out = [
            f"select round {self.round}: {self.picks.num_rows} of {self.pool} pool samples "
            f"by {self.strategy} with {model}"
        ]
        out += [f"  note: {n}" for n in self.notes]
        if self.queue:
            out.append(
                f"  queue {self.queue}: {self.enqueued} tasks added, {self.already_queued} "
                f"already queued or labelled, {self.gold_added} gold tasks mixed in"
            )
        return out


def select(
    settings: Settings, config: SelectConfig, before_commit: CommitHook | None = None
) -> SelectSummary:
    """Choose ``config.budget`` pool samples, commit them as the next round of
    ``selections`` and enqueue them; ``before_commit`` is a test hook."""
    lake = Lake(settings)
    models = Models.read(lake)
    strategy = get_strategy(config.strategy)
    needs = _needs(strategy, config)
    row = _model_row(models, config, needs)
    class_names = list(row["class_names"]) if row else []
    if config.queue:
        _check_queue(settings, config.queue)
    samples = pool_samples(lake, row["modality"] if row else None)
    version = row["version"] if row else None
    preds = predictions(lake, version, ["probs", "embedding", "mc_probs"]) if version else None
    pool, pool_rows = build_pool(samples, preds, needs, class_names)
    known = known_sample_ids(lake, settings)
    composed = compose(
        strategy,
        known_ids=known,
        class_balanced=config.class_balanced,
        prior_shift=config.prior_shift,
        target_priors=_priors(config.target_priors, class_names),
    )
    selection = composed.select(pool, config.budget, rng=config.seed)
    round_ = _next_round(lake)
    kind = strategy.task_kind
    picks = _rows(selection, round_, version, kind, pool_rows, preds, class_names, config)
    summary = SelectSummary(
        round_,
        selection.strategy,
        version,
        len(pool),
        len(known & set(pool.sample_ids.tolist())),
        picks,
        config.queue,
    )
    if preds is not None and not needs and len(preds) < len(pool):
        summary.notes.append(
            f"{len(pool) - len(preds)} picks may lack a prefill: run `flywheel score`"
        )
    summary.picks = picks = commit_selection(lake, picks, before_commit)
    summary.round = int(picks["round"][0].as_py()) if picks.num_rows else round_
    if config.queue:
        _enqueue(settings, config.queue, picks, summary)
    return summary


def _needs(strategy: Strategy, config: SelectConfig) -> tuple[str, ...]:
    needs = strategy.required_arrays()
    if (
        config.class_balanced or config.prior_shift or config.target_priors
    ) and "probs" not in needs:
        needs = (*needs, "probs")
    return needs


def _model_row(
    models: Models, config: SelectConfig, needs: tuple[str, ...]
) -> dict[str, Any] | None:
    """The model whose scores the round uses; None for a cold start (a strategy that
    reads no model output, and no model asked for or promoted yet)."""
    if config.model == PROMOTED_ALIAS and models.promoted() is None:
        if not needs:
            return None
        raise NotFoundError(
            f"no model is promoted yet, and --strategy {config.strategy} reads a model's "
            "scores: start cold with --strategy random, or `flywheel train` one first"
        )
    return models.get(config.model)


def _check_queue(settings: Settings, queue: str) -> None:
    from flywheel.db import open_engine
    from flywheel.queue import get_queue

    engine = open_engine(settings.catalog_uri)
    try:
        with engine.connect() as conn:
            get_queue(conn, queue)  # raises NotFoundError with the known queues
    finally:
        engine.dispose()


def _priors(target: Mapping[str, float] | None, class_names: list[str]) -> list[float] | None:
    if target is None:
        return None
    unknown = sorted(set(target) - set(class_names))
    if unknown:
        raise ConfigError(f"target priors name unknown classes {unknown}; classes: {class_names}")
    return [float(target.get(name, 0.0)) for name in class_names]


def _next_round(lake: Lake) -> int:
    rounds = lake.read("selections", columns=["round"]).column("round")
    return (max(rounds.to_pylist()) if len(rounds) else 0) + 1


def commit_selection(
    lake: Lake, picks: pa.Table, before_commit: CommitHook | None = None
) -> pa.Table:
    """Commit ``picks`` as the next round, its number decided from a fresh read of
    ``selections`` on every attempt (two selects at once make two rounds, never one
    round twice). Returns the picks as committed."""
    committed = {"picks": picks}

    def build(head: Head) -> Change:
        rounds = head.read(["round"]).column("round")
        round_ = (max(rounds.to_pylist()) if len(rounds) else 0) + 1
        numbered = picks.set_column(
            picks.schema.get_field_index("round"),
            SELECTIONS.field("round"),
            pa.array([round_] * picks.num_rows, pa.int64()),
        )
        committed["picks"] = numbered
        return Change(append=numbered, properties={"flywheel.round": str(round_)})

    commit_fresh(lake, "selections", build, before_commit)
    return committed["picks"]


def _rows(
    selection: Selection,
    round_: int,
    version: str | None,
    kind: str,
    pool_rows: pa.Table,
    preds: pa.Table | None,
    class_names: list[str],
    config: SelectConfig,
) -> pa.Table:
    n = len(selection)
    weak = pool_rows.column("weak_label").take(pa.array(selection.indices)).to_pylist()
    prefill = _prefill(selection, preds, class_names, config.top_k, config.blocklist)
    return (
        pa.Table.from_pylist(
            [
                {
                    "round": round_,
                    "sample_id": sid,
                    "strategy": selection.strategy,
                    "model_version": version,
                    "score": float(score),
                    "rank": int(rank),
                    "kind": kind,
                    **prefill[i],
                    "weak_label": weak[i],
                    "queue": config.queue,
                    "selected_at": datetime.now(UTC),
                }
                for i, (sid, score, rank) in enumerate(
                    zip(
                        selection.sample_ids.tolist(),
                        selection.scores,
                        selection.ranks,
                        strict=True,
                    )
                )
            ],
            schema=SELECTIONS,
        )
        if n
        else SELECTIONS.empty_table()
    )


def _prefill(
    selection: Selection,
    preds: pa.Table | None,
    class_names: list[str],
    k: int,
    blocklist: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """The model's prediction for each pick: label, confidence, top-k classes, leaving
    out blocklisted classes (the label is then the best class not on the list)."""
    allowed = np.array([name not in blocklist for name in class_names], dtype=bool)
    empty: dict[str, Any] = {"predicted_label": None, "confidence": None, "top_k": None}
    if preds is None or preds.num_rows == 0:
        return [dict(empty) for _ in range(len(selection))]
    position = {sid: i for i, sid in enumerate(preds.column("sample_id").to_pylist())}
    probs_col = preds.column("probs")
    out = []
    for sid in selection.sample_ids.tolist():
        if sid not in position:
            out.append(dict(empty))
            continue
        p = np.asarray(probs_col[position[sid]].as_py(), dtype=np.float32)
        ranked = np.argsort(-p, kind="stable")
        order = ranked[allowed[ranked]][:k]
        if len(order) == 0:  # every class blocklisted
            out.append(dict(empty))
            continue
        out.append(
            {
                "predicted_label": class_names[order[0]],
                "confidence": float(p[order[0]]),
                "top_k": [{"label": class_names[j], "prob": float(p[j])} for j in order],
            }
        )
    return out


def _enqueue(settings: Settings, queue: str, picks: pa.Table, summary: SelectSummary) -> None:
    from flywheel.db import open_engine
    from flywheel.queue import enqueue

    items = []
    for r in picks.to_pylist():
        prefill = None
        if r["predicted_label"] is not None:
            prefill = {
                "label": r["predicted_label"],
                "confidence": r["confidence"],
                "top_k": [[t["label"], t["prob"]] for t in r["top_k"] or []],
            }
        if r["kind"] == "verify" and r["weak_label"] is not None:
            # Verify asks "is this X?": X is the label in doubt, the weak one.
            prefill = {**(prefill or {}), "label": r["weak_label"]}
        items.append(
            {
                "sample_id": r["sample_id"],
                "kind": r["kind"],
                "prefill": prefill,
                "priority": float(-r["rank"]),
            }
        )
    engine = open_engine(settings.catalog_uri)
    try:
        result = enqueue(engine, queue, items)
    finally:
        engine.dispose()
    summary.enqueued, summary.already_queued, summary.gold_added = (
        result.added,
        result.skipped,
        result.gold,
    )
