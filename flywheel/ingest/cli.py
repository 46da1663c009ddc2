"""``flywheel ingest``."""

from __future__ import annotations

import click

from flywheel.config import Settings
from flywheel.ingest.inspect import DEFAULT_MAX_FILE_BYTES
from flywheel.ingest.run import SPLITS, IngestConfig
from flywheel.ingest.run import ingest as run_ingest


@click.command()
@click.argument("source")
@click.option(
    "--taxonomy",
    required=True,
    type=click.Path(dir_okay=False),
    help="YAML file: classes: {name: [tag, ...]}.",
)
@click.option("--modality", default=None, help="image or audio (default: from each file's bytes).")
@click.option("--split", default="pool", type=click.Choice(SPLITS), show_default=True)
@click.option(
    "--workers", type=int, default=None, help="Ray actors (default: one per cluster CPU)."
)
@click.option(
    "--max-file-mb",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FILE_BYTES >> 20,
    show_default=True,
    help="Files larger than this (MiB) are quarantined (too_large) without being read.",
)
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.pass_obj
def ingest(
    settings: Settings,
    source: str,
    taxonomy: str,
    modality: str | None,
    split: str,
    workers: int | None,
    max_file_mb: int,
    no_progress: bool,
) -> None:
    """Ingest SOURCE (a folder, a manifest.jsonl, or an s3:// prefix) into the lake."""
    config = IngestConfig(
        source=source,
        taxonomy=taxonomy,
        modality=modality,
        split=split,
        workers=workers,
        max_file_bytes=max_file_mb << 20,
        progress=not no_progress,
    )
    summary = run_ingest(settings, config)
    for line in summary.lines():
        click.echo(line)
