"""``flywheel bench``: benchmarks that run the flywheel's own code on real data.

    flywheel bench active-learning --dataset digits --strategies random,margin,badge \\
        --budget 300 --step 20 --init 20 --seeds 3 --out al-digits
"""

from __future__ import annotations

from pathlib import Path

import click

from flywheel.bench.config import BenchConfig
from flywheel.bench.report import format_table
from flywheel.bench.run import run_benchmark
from flywheel.config import Settings


@click.group()
def bench() -> None:
    """Benchmarks on real data (results in an output folder)."""


@bench.command("active-learning")
@click.option(
    "--dataset",
    required=True,
    help="digits, mnist, fashion-mnist, or a path to an .npz with x (N,H,W | N,C,H,W), y (N,).",
)
@click.option(
    "--strategies",
    required=True,
    help="Comma-separated labelling strategies, e.g. random,margin,entropy,bald,kcenter,badge.",
)
@click.option("--budget", type=int, required=True, help="Labels at the end of each curve.")
@click.option("--step", type=int, required=True, help="Labels added per round.")
@click.option("--init", type=int, required=True, help="Random labels each curve starts from.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Initial sets per strategy.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder (created; files in it are replaced).",
)
@click.option("--epochs", type=int, default=10, show_default=True, help="Passes per round.")
@click.option(
    "--min-steps",
    type=int,
    default=200,
    show_default=True,
    help="Fewest optimizer steps a round trains.",
)
@click.option("--pool-size", type=int, default=None, help="Subsample the pool (default: all).")
@click.option("--test-size", type=int, default=None, help="Held out (default: 20%, max 2,000).")
@click.option("--arch", default=None, help="Image network (default: matches the input size).")
@click.option("--workers", type=int, default=1, show_default=True, help="Parallel Ray tasks.")
@click.option(
    "--weak-noise",
    type=float,
    default=None,
    help="Start every pool sample with a weak label, wrong with this probability in [0, 1); "
    "annotations replace weak labels (--init may be 0).",
)
@click.option(
    "--noise-kind",
    default="uniform",
    show_default=True,
    help="How a weak label is wrong: uniform (any other class) or confusable (its "
    "fixed look-alike class).",
)
@click.option(
    "--round-epochs",
    type=int,
    default=1,
    show_default=True,
    help="With --weak-noise: passes over the pool each round fine-tunes the last model.",
)
@click.pass_context
def active_learning(
    ctx: click.Context,
    dataset: str,
    strategies: str,
    budget: int,
    step: int,
    init: int,
    seeds: int,
    out: Path,
    epochs: int,
    min_steps: int,
    pool_size: int | None,
    test_size: int | None,
    arch: str | None,
    workers: int,
    weak_noise: float | None,
    noise_kind: str,
    round_epochs: int,
) -> None:
    """Learning curves of labelling strategies with a simulated annotator.

    With --weak-noise the pool starts weakly labelled (as hashtags label it) and the
    curves measure how many answers recover the accuracy the wrong labels cost.

    Writes OUT/curves.csv, OUT/summary.json and OUT/learning_curves.png; progress goes
    to stderr, the summary table to stdout.
    """
    config = BenchConfig(
        dataset=dataset,
        strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        budget=budget,
        step=step,
        init=init,
        seeds=seeds,
        out=out,
        epochs=epochs,
        min_steps=min_steps,
        pool_size=pool_size,
        test_size=test_size,
        arch=arch,
        workers=workers,
        weak_noise=weak_noise,
        noise_kind=noise_kind,
        round_epochs=round_epochs,
    )
    # Under ``flywheel`` the group's Settings (--ray-address) is ctx.obj; alone, none.
    settings = ctx.obj if isinstance(ctx.obj, Settings) else None
    result = run_benchmark(config, settings)
    click.echo(format_table(result.summary))
    click.echo(
        f"wrote {', '.join(str(p) for p in result.files.values())} in {result.seconds:.0f} s"
    )
