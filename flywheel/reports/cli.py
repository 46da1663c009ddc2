"""Commands of the reports stage: ``browse``, ``embeddings`` and the ``report`` group
(``confusion``, ``balance``, ``verify-cluster``). Each ends with a one-line summary;
long steps draw a progress bar on stderr. ``ctx.obj`` is the ``Settings``.
"""

from __future__ import annotations

from pathlib import Path

import click

from flywheel.clikit import needs_lake
from flywheel.config import Settings
from flywheel.reports.balance import BalanceConfig, balance_report
from flywheel.reports.clusters import SplitConfig
from flywheel.reports.confusion import ConfusionConfig, confusion_report
from flywheel.reports.embeddings import METHODS, EmbeddingsConfig, embeddings_report
from flywheel.reports.gallery import BrowseConfig
from flywheel.reports.gallery import browse as run_browse
from flywheel.reports.lakeview import CARD_COLUMNS
from flywheel.reports.split_null import NullConfig
from flywheel.reports.verify import VerifyClusterConfig, parse_cluster_ref, verify_cluster

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("browse")
@click.option("--out", required=True, type=_DIR, help="Folder for index.html and media/.")
@click.option(
    "--where",
    default=None,
    help=f"SQL condition on the cards, e.g. \"class_name = 'seven' and confidence < 0.6\". "
    f"Columns: {CARD_COLUMNS}.",
)
@click.option("--sample", type=int, default=500, show_default=True, help="Cards at most; 0 = all.")
@click.option("--seed", type=int, default=None, help="Makes the random order repeatable.")
@click.option("--model", default="promoted", show_default=True, help="Whose predictions to show.")
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.pass_obj
@needs_lake
def browse(
    settings: Settings,
    out: Path,
    where: str | None,
    sample: int,
    seed: int | None,
    model: str,
    no_progress: bool,
) -> None:
    """A static HTML gallery of samples and quarantined inputs (opens from disk)."""
    config = BrowseConfig(out, where, sample, seed, model, progress=not no_progress)
    click.echo(run_browse(settings, config).line())


@click.command("embeddings")
@click.option("--out", required=True, type=_DIR, help="Folder for the pages and the export.")
@click.option("--model", default="promoted", show_default=True, help="Model version.")
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
              help="2-D projection; auto: UMAP when umap-learn is installed, else PCA.")  # fmt: skip
@click.option("--max-points", type=int, default=5000, show_default=True,
              help="Points in the scatter and the projector export (random, seeded).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--split-z", type=float, default=NullConfig.z_threshold, show_default=True,
              help="Split when a class's cut lies this many null spreads below the honest "
                   "classes' (in any view).")  # fmt: skip
@click.option("--split-threshold", type=float, default=SplitConfig.threshold, show_default=True,
              help="Separation (held-out d') at which a class counts as split, when there "
                   "are too few classes to calibrate against.")  # fmt: skip
@click.option("--min-group-share", type=float, default=SplitConfig.min_group_share,
              show_default=True, help="Smallest group share of a split class.")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.pass_obj
@needs_lake
def embeddings(
    settings: Settings,
    out: Path,
    model: str,
    method: str,
    max_points: int,
    seed: int,
    split_z: float,
    split_threshold: float,
    min_group_share: float,
    no_progress: bool,
) -> None:
    """Project a model's embeddings to 2-D, export them for TensorBoard, and report
    classes whose embeddings form separate groups (split_clusters.json)."""
    null = NullConfig(z_threshold=split_z, min_group_share=min_group_share)
    split = SplitConfig(threshold=split_threshold, min_group_share=min_group_share, null=null)
    config = EmbeddingsConfig(out, model, method, max_points, seed, split, not no_progress)
    click.echo(embeddings_report(settings, config).line())


@click.group("report")
def report() -> None:
    """Reports on the data and the models: confusion, balance, verify-cluster."""


@report.command("confusion")
@click.option("--out", required=True, type=_FILE, help="FILE.html or FILE.png; both are written.")
@click.option("--model", default="promoted", show_default=True, help="Model version.")
@click.option("--against", default=None, help="Another version to compare with.")
@click.pass_obj
@needs_lake
def confusion(settings: Settings, out: Path, model: str, against: str | None) -> None:
    """The labelled confusion matrix (PNG and HTML), and the change from --against."""
    click.echo(confusion_report(settings, ConfusionConfig(out, model, against)).line())


@report.command("balance")
@click.option("--out", required=True, type=_FILE, help="FILE.html; .png and .json are written too.")
@click.pass_obj
@needs_lake
def balance(settings: Settings, out: Path) -> None:
    """Samples per class and the source of their labels: weak, vendors, gold, verification."""
    click.echo(balance_report(settings, BalanceConfig(out)).line())


@report.command("verify-cluster")
@click.argument("cluster")
@click.option("--queue", required=True, help="Annotation queue for the verify tasks.")
@click.option("--model", default="promoted", show_default=True, help="Model whose embeddings.")
@click.option("--budget", type=int, default=None, help="At most this many tasks.")
@click.pass_obj
@needs_lake
def verify_cluster_cmd(
    settings: Settings, cluster: str, queue: str, model: str, budget: int | None
) -> None:
    """Send group GROUP of class CLASS (CLUSTER is CLASS:GROUP, as numbered in
    split_clusters.html) to QUEUE as "is this CLASS?" verification tasks."""
    name, group = parse_cluster_ref(cluster)
    summary = verify_cluster(settings, VerifyClusterConfig(name, group, queue, model, budget))
    for line in summary.lines()[1:]:
        click.echo(line)
    click.echo(summary.lines()[0])


COMMANDS = (browse, embeddings, report)
