"""Commands of the loop stage: ``loop``, ``gate``, ``report-error``, ``models``, ``status``.

Flags become config here, once; the library below trusts it. ``ctx.obj`` is the
``Settings``.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from flywheel.clikit import format_option, names_option, needs_catalog, needs_lake, parse_names
from flywheel.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_SEED,
    DEFAULT_WEAK_WEIGHT,
    DEFAULT_WORKERS,
    Settings,
)
from flywheel.errors import ConfigError, NotFoundError
from flywheel.loop.defaults import DEFAULT_BUDGET, DEFAULT_STRATEGY, PAUSE_POINTS

if TYPE_CHECKING:
    from flywheel.loop.config import LoopConfig
    from flywheel.loop.gates import GateConfig

# Light at import: the stages (torch, Ray, scipy) load inside the verbs that run them,
# so `flywheel models`, `status` and every --help here start without them
# (tests/test_cli_feel.py).


def _gate_config(tolerance: float, blocklist: str | None, alpha: float) -> GateConfig:
    from flywheel.loop.gates import GateConfig

    names = parse_names(blocklist, "--blocklist") if blocklist else []
    return GateConfig(tolerance, frozenset(names), alpha)


_tolerance = click.option(
    "--tolerance",
    type=float,
    default=0.01,
    show_default=True,
    help="Accuracy a candidate may lose against the best promoted model.",
)
_alpha = click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="Reject a candidate significantly worse than the best promoted model "
    "(exact McNemar p below this); 0 turns the test off.",
)
_blocklist = names_option(
    "--blocklist",
    "Classes never prefilled, auto-accepted or newly output wrongly",
    default=None,
)


@click.command("loop")
@click.option("--queue", required=True, help="Annotation queue the batches go to.")
@click.option("--strategy", default=DEFAULT_STRATEGY, show_default=True, help="Selection strategy.")
@click.option(
    "--budget", type=int, default=DEFAULT_BUDGET, show_default=True, help="Samples per batch."
)
@click.option(
    "--min-new-labels",
    type=int,
    default=None,
    help="Retrain after N new labels (default: --budget).",
)
@click.option(
    "--every",
    "every_s",
    type=float,
    default=None,
    help="... or after SECONDS (with any new label).",
)
@click.option(
    "--rounds", type=int, default=None, help="Stop after R rounds (default: run until stopped)."
)
@click.option(
    "--poll",
    "poll_s",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between idle ticks.",
)
@click.option(
    "--low-water",
    type=int,
    default=None,
    help="Select when at most this many tasks are open (default: budget/2).",
)
@click.option(
    "--max-idle",
    "max_idle_s",
    type=float,
    default=None,
    help="Stop after SECONDS with nothing to do.",
)
@click.option(
    "--epochs", type=int, default=DEFAULT_EPOCHS, show_default=True, help="Passes over the data."
)
@click.option(
    "--workers",
    type=int,
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Data-parallel training workers.",
)
@click.option("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option("--lr", type=float, default=DEFAULT_LR, show_default=True)
@click.option("--weak-weight", type=float, default=DEFAULT_WEAK_WEIGHT, show_default=True)
@click.option(
    "--arch", default=None, help="Network of a first model (later ones keep their parent's)."
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option(
    "--mc-passes", type=int, default=10, show_default=True, help="MC-dropout passes when scoring."
)
@click.option("--class-balanced", is_flag=True, help="Spread each batch over predicted classes.")
@_tolerance
@_alpha
@_blocklist
@click.option("--name", default="default", show_default=True, help="Loop name (its state row).")
@click.option("--pause-at", multiple=True, type=click.Choice(PAUSE_POINTS), hidden=True)
@click.pass_obj
@needs_catalog
def loop(settings: Settings, **flags: Any) -> None:
    """Run the flywheel: export labels, retrain when enough landed, gate, promote,
    rescore, and select the next batch when the queue runs low. Safe to kill and restart."""
    from flywheel.loop.controller import run_loop

    summary = run_loop(settings, loop_config(**flags), echo=lambda line: click.echo(line))
    for line in summary.lines()[-1:]:
        click.echo(line)


def loop_config(
    *,
    strategy: str,
    budget: int,
    class_balanced: bool,
    seed: int,
    epochs: int,
    workers: int,
    batch_size: int,
    lr: float,
    weak_weight: float,
    arch: str | None,
    mc_passes: int,
    tolerance: float,
    alpha: float,
    blocklist: str | None,
    pause_at: tuple[str, ...],
    **loop_flags: Any,
) -> LoopConfig:
    """The flags of ``flywheel loop``, each into the config it belongs to: selection,
    training, scoring, gates, and the loop's own (queue, rounds, polling, thresholds).
    ``--seed`` seeds both selection and training."""
    from flywheel.loop.config import LoopConfig
    from flywheel.score import ScoreConfig
    from flywheel.selection import SelectConfig
    from flywheel.train import TrainConfig

    return LoopConfig(
        select=SelectConfig(
            strategy=strategy, budget=budget, class_balanced=class_balanced, seed=seed
        ),
        train=TrainConfig(
            epochs=epochs,
            workers=workers,
            batch_size=batch_size,
            lr=lr,
            weak_weight=weak_weight,
            arch=arch,
            seed=seed,
        ),
        score=ScoreConfig(mc_passes=mc_passes),
        gates=_gate_config(tolerance, blocklist, alpha),
        pause_at=tuple(pause_at),
        **loop_flags,
    )


@click.command("gate")
@click.argument("version")
@_tolerance
@_alpha
@_blocklist
@click.option("--dry-run", is_flag=True, help="Evaluate only; record no decision.")
@click.pass_obj
@needs_lake
def gate(
    settings: Settings,
    version: str,
    tolerance: float,
    alpha: float,
    blocklist: str | None,
    dry_run: bool,
) -> None:
    """Run the gates on candidate VERSION against the promoted model, and record the
    decision (promoted or rejected, with the reason) in the models table."""
    from flywheel.lake import Lake
    from flywheel.loop.gates import evaluate_candidate, gate_candidate
    from flywheel.train import Models

    config = _gate_config(tolerance, blocklist, alpha)
    lake = Lake(settings)
    history = Models.read(lake)
    row = history.latest.get(version)
    if row is None:
        raise NotFoundError(
            f"model version {version!r} does not exist; `flywheel models` lists them"
        )
    if row["status"] != "candidate" and not dry_run:
        raise ConfigError(
            f"{version} is {row['status']} already; use --dry-run to evaluate it again"
        )
    evaluate = evaluate_candidate if dry_run else gate_candidate
    result = evaluate(lake, row, config, history)
    for check in result.checks:
        click.echo(f"{check.name:<9} {'pass' if check.passed else 'FAIL'}  {check.detail}")
    verb = "would be" if dry_run else "is"
    click.echo(f"{version} {verb} {result.status}: {result.reason}")


@click.command("report-error")
@click.option("--sample-id", default=None, help="A sample in the lake that got a bad output.")
@click.option(
    "--media",
    "media_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="The media file itself; ingested with split = regression.",
)
@click.option("--predicted", required=True, help="The output seen.")
@click.option("--expected", required=True, help="The right class.")
@click.option("--model", "model_version", default=None, help="Model version that gave it.")
@click.option("--note", default=None, help="Free text for people.")
@click.pass_obj
@needs_lake
def report_error(settings: Settings, **options: Any) -> None:
    """Record a bad output from the field: the sample joins the regression gallery that
    every candidate model is gated on."""
    from flywheel.loop.feedback import FeedbackReport, record_feedback

    click.echo(record_feedback(settings, FeedbackReport(**options, source="cli")).line())


_MODEL_FIELDS = (
    "version",
    "parent",
    "status",
    "reason",
    "accuracy",
    "macro_f1",
    "ece",
    "n_train",
    "n_eval",
    "snapshot_ids",
    "checkpoint_uri",
    "created_at",
)


@click.command("models")
@format_option
@click.option("--history", is_flag=True, help="Every status each version took (model_events).")
@click.pass_obj
@needs_lake
def models(settings: Settings, fmt: str, history: bool) -> None:
    """Model versions: parent, data snapshots, metrics, status and reason (* = current)."""
    from flywheel.lake import Lake
    from flywheel.loop.registry import format_models
    from flywheel.train import Models

    lake = Lake(settings)
    reg = Models.read(lake)
    rows = reg.events(lake) if history else list(reg.latest.values())
    if fmt == "json":
        out = [{k: r[k] for k in _MODEL_FIELDS} for r in rows]
        for r in out:
            r["snapshot_ids"] = json.loads(r["snapshot_ids"])
        click.echo(json.dumps(out, default=str, indent=1))
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=_MODEL_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        click.echo("no models yet: `flywheel train` or `flywheel loop` makes one")
        return
    lines = format_models(reg, rows)
    click.echo("\n".join(lines))


@click.command("status")
@click.option("--loop", "loop_name", default="default", show_default=True, help="Loop name.")
@click.pass_obj
@needs_lake
def status(settings: Settings, loop_name: str) -> None:
    """Pool, queues, recent labels, the current model and its trend, and the loop."""
    from flywheel.loop.status import read_status

    click.echo("\n".join(read_status(settings, loop_name).lines()))


COMMANDS = (loop, gate, report_error, models, status)
