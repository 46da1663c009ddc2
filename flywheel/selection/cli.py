"""``flywheel select``."""

from __future__ import annotations

import click

from flywheel.clikit import names_option, needs_lake, parse_names
from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.lake import format_table
from flywheel.selection.run import SelectConfig
from flywheel.selection.run import select as run_select


def _parse_priors(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    priors = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            priors[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(f"--target-priors: {part!r} is not CLASS=P (e.g. cat=0.7,dog=0.3)")
    return priors


@click.command()
@click.option(
    "--strategy",
    required=True,
    help="random (a cold start needs no model), margin, entropy, least-confidence, "
    "bald, kcenter, badge, label-errors (see docs).",
)
@click.option("--budget", type=int, required=True, help="How many samples to pick.")
@click.option("--queue", default=None, help="Annotation queue to send the picks to.")
@click.option("--model", default="promoted", show_default=True, help="Model whose scores to use.")
@click.option(
    "--class-balanced", is_flag=True, help="Split the budget evenly over predicted classes."
)
@click.option(
    "--prior-shift", is_flag=True, help="Correct probabilities to the pool's class mix (EM)."
)
@click.option("--target-priors", default=None, help="Correct to this class mix: cat=0.7,dog=0.3.")
@click.option("--top-k", type=int, default=3, show_default=True, help="Classes in the prefill.")
@click.option("--seed", type=int, default=None, help="Makes random choices repeatable.")
@names_option("--blocklist", "Classes never suggested in a prefill", default="")
@click.pass_obj
@needs_lake
def select(
    settings: Settings,
    strategy: str,
    budget: int,
    queue: str | None,
    model: str,
    class_balanced: bool,
    prior_shift: bool,
    target_priors: str | None,
    top_k: int,
    seed: int | None,
    blocklist: str,
) -> None:
    """Pick the most useful pool samples to label next (and enqueue them).

    To send one group of a split class to verification instead, use
    `flywheel report verify-cluster CLASS:GROUP --queue Q`.
    """
    blocked = frozenset(parse_names(blocklist, "--blocklist"))
    if blocked:
        _check_blocklist(settings, model, blocked)
    config = SelectConfig(
        strategy=strategy,
        budget=budget,
        queue=queue,
        model=model,
        class_balanced=class_balanced,
        prior_shift=prior_shift,
        target_priors=_parse_priors(target_priors),
        top_k=top_k,
        seed=seed,
        blocklist=blocked,
    )
    summary = run_select(settings, config)
    if summary.picks.num_rows == 0:
        click.echo("nothing to select: every pool sample is labelled or queued already")
    else:
        columns = ["rank", "sample_id", "score", "predicted_label", "confidence", "weak_label"]
        click.echo(format_table(summary.picks.select(columns), 10))
    for line in summary.lines():
        click.echo(line)


def _check_blocklist(settings: Settings, model: str, blocklist: frozenset[str]) -> None:
    from flywheel.lake import Lake
    from flywheel.train import Models

    classes = list(Models.read(Lake(settings)).get(model)["class_names"])
    unknown = sorted(blocklist - set(classes))
    if unknown:
        raise ConfigError(f"--blocklist names unknown classes {unknown}; {model}'s: {classes}")
