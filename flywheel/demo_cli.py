"""``flywheel demo``: the README's main job on the embedded defaults (``scripts/demo``
runs it after setup; ``python -m jobs.demo`` is the same command as a script or a Ray
job)."""

from __future__ import annotations

import shutil

import click

from flywheel.config import Settings
from flywheel.demo import DemoConfig, run_demo
from flywheel.errors import ConfigError

MARKER = ".flywheel-demo"  # a data root the demo made, which --fresh may delete
_DEFAULTS = DemoConfig()


@click.command()
@click.option("--rounds", type=click.IntRange(min=0), default=_DEFAULTS.rounds, show_default=True,
              help="Rounds of score, select, annotate, export, retrain, gate.")  # fmt: skip
@click.option("--budget", type=click.IntRange(min=1), default=_DEFAULTS.budget, show_default=True,
              help="Samples selected per round.")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=_DEFAULTS.epochs, show_default=True,
              help="Training epochs of every model.")  # fmt: skip
@click.option("--modality", type=click.Choice(["image", "audio"]), default=_DEFAULTS.modality,
              show_default=True,
              help="image: handwritten digits; audio: spoken keywords (espeak-ng).")  # fmt: skip
@click.option("--fresh", is_flag=True,
              help="Start over: delete a data root that an earlier demo made.")  # fmt: skip
@click.pass_obj
def demo(settings: Settings, rounds: int, budget: int, epochs: int, modality: str,
         fresh: bool) -> None:  # fmt: skip
    """Run the whole flywheel on real data.

    Ingests scikit-learn's digits with hashtags made wrong on purpose (plus real faults),
    trains a first model on the weak labels, then runs rounds of score, select, annotate
    (a simulated vendor over the real HTTP API, one of its annotators bad), export,
    retrain and gate, printing accuracy per round and the confusion matrix, and writes an
    HTML report under the data root. --modality audio does the same on spoken keywords.
    """
    marker = settings.root / MARKER
    if fresh and marker.exists():  # never delete a lake the demo did not make
        shutil.rmtree(settings.root)
    if (settings.root / "catalog.db").exists():
        why = "an earlier demo's lake (add --fresh)" if marker.exists() else "a lake"
        raise ConfigError(f"{settings.root} already holds {why}; choose another --root")
    settings.root.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by flywheel demo; --fresh may delete this folder\n")
    config = DemoConfig(rounds=rounds, budget=budget, epochs=epochs, modality=modality)
    run_demo(settings, config)
