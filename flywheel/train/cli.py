"""``flywheel train``."""

from __future__ import annotations

from typing import Any

import click

from flywheel.clikit import needs_lake
from flywheel.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_SEED,
    DEFAULT_WEAK_WEIGHT,
    DEFAULT_WORKERS,
    Settings,
)
from flywheel.train.run import TrainConfig
from flywheel.train.run import train as run_train


@click.command()
@click.option(
    "--epochs", type=int, default=DEFAULT_EPOCHS, show_default=True, help="Passes over the data."
)
@click.option(
    "--workers",
    type=int,
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Data-parallel workers.",
)
@click.option("--gpu", is_flag=True, help="One GPU per worker (CPU otherwise).")
@click.option(
    "--from",
    "from_version",
    default=None,
    help="Fine-tune model VERSION (e.g. m0003, or 'promoted').",
)
@click.option(
    "--init-checkpoint",
    default=None,
    help="Start from this file (path or URI): a flywheel checkpoint or a state dict.",
)
@click.option(
    "--weak-weight",
    type=float,
    default=DEFAULT_WEAK_WEIGHT,
    show_default=True,
    help="Loss weight of a weak label; a consolidated label weighs 1.",
)
@click.option("--arch", default=None, help="Network (default: the parent's or the modality's).")
@click.option("--freeze-backbone", is_flag=True, help="Train the classification head only.")
@click.option("--modality", default=None, help="image or audio (default: the lake's only one).")
@click.option(
    "--taxonomy",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML taxonomy that fixes the class list (default: the labels present).",
)
@click.option("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option(
    "--lr", type=float, default=DEFAULT_LR, show_default=True, help="AdamW learning rate."
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option(
    "--audio-window-s",
    type=float,
    default=None,
    help="Audio: the loudest window this long is centred in the model's input [default: 0.5].",
)
@click.pass_obj
@needs_lake
def train(settings: Settings, audio_window_s: float | None, **options: Any) -> None:
    """Train a model version with Ray Train on the labelled samples and register it in
    the models table (checkpoint in object storage)."""
    if audio_window_s is not None and audio_window_s <= 0:
        raise click.BadParameter(
            f"must be > 0, got {audio_window_s}", param_hint="--audio-window-s"
        )
    overrides = {"window_s": audio_window_s} if audio_window_s is not None else {}
    config = TrainConfig(**options, input_overrides=overrides)
    summary = run_train(settings, config, on_epoch=_print_epoch)
    for line in summary.lines():
        click.echo(line)
    if summary.status == "candidate":
        click.echo(_what_promotes(settings, summary.version))


def _print_epoch(report: dict[str, Any]) -> None:
    """One line per epoch; the confusion matrix comes once, at the end."""
    click.echo(
        f"epoch {report['epoch']}/{report['epochs']}  loss {report['train_loss']:.4f}  "
        f"accuracy {report['accuracy']:.3f}  macro-F1 {report['macro_f1']:.3f}  "
        f"ECE {report['ece']:.3f}  ({report['seconds']:.1f}s)"
    )


def _what_promotes(settings: Settings, version: str) -> str:
    """What makes a candidate count: until it is promoted, nothing uses it."""
    from flywheel.lake import Lake
    from flywheel.train.registry import Models

    promoted = Models.read(Lake(settings)).promoted()
    current = promoted["version"] if promoted else "the promoted model"
    return (
        f"{version} is a candidate: score and select keep using {current} until "
        f"`flywheel gate {version}` promotes it (it must pass the gates; `flywheel loop` "
        "gates its own candidates)"
    )
