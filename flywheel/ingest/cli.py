"""``flywheel ingest``."""

from __future__ import annotations

from collections.abc import Callable

import click

from flywheel.config import Settings
from flywheel.ingest.inspect import DEFAULT_MAX_FILE_BYTES
from flywheel.ingest.run import SPLITS, IngestConfig
from flywheel.ingest.run import ingest as run_ingest
from flywheel.modalities import CHECK_HELP, AudioChecks


def _audio_check_options(command: Callable[..., None]) -> Callable[..., None]:
    """One ``--audio-<setting>`` flag per field of ``AudioChecks``, default unset."""
    for name, field in reversed(AudioChecks.__dataclass_fields__.items()):
        flag = "--audio-" + name.replace("_", "-")
        help_text = f"{CHECK_HELP[name]} [default: {field.default}]"
        command = click.option(flag, type=float, default=None, help=help_text)(command)
    return command


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
@_audio_check_options
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
    **audio_checks: float | None,
) -> None:
    """Ingest SOURCE (a folder, a manifest.jsonl, or an s3:// prefix) into the lake.

    Audio checks are decided against each clip's noise floor; the --audio-* flags set
    their thresholds (defaults and why: docs/decisions/audio-checks.md)."""
    audio = {k.removeprefix("audio_"): v for k, v in audio_checks.items() if v is not None}
    config = IngestConfig(
        source=source,
        taxonomy=taxonomy,
        modality=modality,
        split=split,
        workers=workers,
        max_file_bytes=max_file_mb << 20,
        progress=not no_progress,
        modality_params={"audio": audio} if audio else {},
    )
    summary = run_ingest(settings, config)
    for line in summary.lines():
        click.echo(line)
