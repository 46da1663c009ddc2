"""``flywheel select``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from flywheel.clikit import names_option, needs_lake, parse_names
from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.selection.run import SelectConfig
from flywheel.selection.run import select as run_select

if TYPE_CHECKING:
    import pyarrow as pa

_SHOWN = 10  # picks printed; every pick is a row of the selections table
_COLUMNS = ("rank", "sample_id", "score", "predicted_label", "confidence", "weak_label")


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
        click.echo("\n".join(format_picks(summary.picks, summary.round)))
    for line in summary.lines():
        click.echo(line)


def format_picks(picks: pa.Table, round_: int) -> list[str]:
    """The first picks as an aligned table, sample ids whole (they are what
    ``report-error --sample-id`` and ``sql`` take); the rest are named by the query that
    prints them all."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = [[cell(r[c]) for c in _COLUMNS] for r in picks.slice(0, _SHOWN).to_pylist()]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(_COLUMNS)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(_COLUMNS), line(["-" * w for w in widths])] + [line(r) for r in rows]
    if picks.num_rows > _SHOWN:
        out.append(
            f"... {picks.num_rows - _SHOWN} more; all {picks.num_rows}: "
            f'flywheel sql "select {", ".join(_COLUMNS)} from selections '
            f'where round = {round_} order by rank" --format csv'
        )
    return out


def _check_blocklist(settings: Settings, model: str, blocklist: frozenset[str]) -> None:
    from flywheel.lake import Lake
    from flywheel.train import Models

    classes = list(Models.read(Lake(settings)).get(model)["class_names"])
    unknown = sorted(blocklist - set(classes))
    if unknown:
        raise ConfigError(f"--blocklist names unknown classes {unknown}; {model}'s: {classes}")
