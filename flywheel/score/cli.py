"""``flywheel score``."""

from __future__ import annotations

import click

from flywheel.clikit import needs_lake
from flywheel.config import Settings
from flywheel.score.run import ScoreConfig
from flywheel.score.run import score as run_score


@click.command()
@click.option(
    "--model",
    "model",
    default="promoted",
    show_default=True,
    help="Model version to score with (default: the promoted one).",
)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Scoring actors (default: one per GPU with --num-gpus, else one per CPU).",
)
@click.option("--num-gpus", type=float, default=0.0, show_default=True, help="GPUs per actor.")
@click.option(
    "--mc-passes",
    type=int,
    default=10,
    show_default=True,
    help="MC-dropout passes for BALD (0: no BALD).",
)
@click.pass_obj
@needs_lake
def score(
    settings: Settings,
    model: str,
    batch_size: int,
    concurrency: int | None,
    num_gpus: float,
    mc_passes: int,
) -> None:
    """Score the unlabelled pool with a model: probabilities, embedding, uncertainty."""
    config = ScoreConfig(
        model=model,
        batch_size=batch_size,
        concurrency=concurrency,
        num_gpus=num_gpus,
        mc_passes=mc_passes,
    )
    for line in run_score(settings, config).lines():
        click.echo(line)
