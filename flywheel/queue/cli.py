"""Commands of the annotation stage: ``queue``, ``vendor``, ``export-labels`` (``serve``,
the vendor API, is the HTTP edge's: ``flywheel.api.cli``).

Each ends with a one-line summary; bad input raises a ``FlywheelError`` that the main
CLI turns into one line on stderr. ``ctx.obj`` is the ``Settings``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from flywheel.clikit import names_option, needs_catalog, parse_names, printable
from flywheel.config import Settings
from flywheel.db import open_engine, transaction
from flywheel.errors import ConfigError, NotFoundError, SourceError
from flywheel.queue import labelstudio, store
from flywheel.queue.stats import queue_stats
from flywheel.queue.tasks import add_gold, enqueue


def _engine(settings: Settings) -> Engine:
    if settings.catalog_is_sqlite:
        settings.root.mkdir(parents=True, exist_ok=True)
    return open_engine(settings.catalog_uri)


def _read_items(path: Path) -> list[dict[str, Any]]:
    """JSON Lines (one object per line), a JSON array, or CSV with a header."""
    try:
        text = path.read_text()
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err.strerror}") from None
    try:
        if path.suffix == ".csv":
            return [dict(row) for row in csv.DictReader(text.splitlines())]
        if text.lstrip().startswith("["):
            items = json.loads(text)
        else:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{path}: not JSON Lines or a JSON array ({err.msg}, line {err.lineno})"
        ) from None
    if not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{path}: every item must be a JSON object")
    return items


@click.group("queue")
def queue() -> None:
    """Annotation queues: create, fill, inspect, and Label Studio interop."""


@queue.command("create")
@click.argument("name")
@names_option(
    "--labels",
    "Label set, e.g. cat,dog,bird (default: --taxonomy's classes, else the promoted model's)",
    default=None,
)
@click.option(
    "--taxonomy",
    type=click.Path(dir_okay=False),
    default=None,
    help="Take the labels from this taxonomy YAML (the one given to `flywheel ingest`).",
)
@click.option(
    "--consensus", default=1, show_default=True, help="Answers from distinct annotators per task."
)
@click.option(
    "--gold-rate",
    default=0.0,
    show_default=True,
    help="Share of label tasks that are gold (0..0.5); verify tasks owe no gold.",
)
@click.option("--lease-seconds", default=store.DEFAULT_LEASE_SECONDS, show_default=True)
@click.option(
    "--min-agreement",
    default=store.DEFAULT_MIN_AGREEMENT,
    show_default=True,
    help="Share of votes the winner needs; below it the task goes out again.",
)
@click.option(
    "--instructions",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File with instructions shown to annotators (Markdown).",
)
@click.pass_obj
def create(settings: Settings, name: str, labels: str | None, taxonomy: str | None,
           consensus: int, gold_rate: float, lease_seconds: int, min_agreement: float,
           instructions: Path | None) -> None:  # fmt: skip
    """Create queue NAME."""
    label_set = _queue_labels(settings, labels, taxonomy)
    text = ""
    if instructions is not None:
        try:
            text = instructions.read_text()
        except OSError as err:
            raise SourceError(
                f"cannot read --instructions {instructions}: {err.strerror}"
            ) from None
    q = store.create_queue(
        _engine(settings), name, label_set, consensus=consensus, gold_rate=gold_rate,
        lease_seconds=lease_seconds, instructions=text, min_agreement=min_agreement,
    )  # fmt: skip
    click.echo(
        f"created queue {q.name}: {len(q.labels)} labels, consensus {q.consensus}, "
        f"gold rate {q.gold_rate:g}, lease {q.lease_seconds}s"
    )


def _queue_labels(settings: Settings, labels: str | None, taxonomy: str | None) -> list[str]:
    """--labels, else the taxonomy's classes, else the promoted model's classes."""
    if labels is not None and taxonomy is not None:
        raise ConfigError("give --labels or --taxonomy, not both")
    if labels is not None:
        return parse_names(labels, "--labels")
    if taxonomy is not None:
        from flywheel.taxonomy import Taxonomy

        return list(Taxonomy.load(taxonomy).classes)
    promoted = _promoted_classes(settings)
    if promoted is None:
        raise ConfigError(
            "no labels: give --labels a,b,... or --taxonomy FILE (no model is promoted yet "
            "to take them from)"
        )
    return promoted


def _promoted_classes(settings: Settings) -> list[str] | None:
    from flywheel.clikit import require_lake

    try:
        require_lake(settings)
    except NotFoundError:
        return None
    from flywheel.lake import Lake
    from flywheel.train import Models

    promoted = Models.read(Lake(settings)).promoted()
    return list(promoted["class_names"]) if promoted else None


@queue.command("stats")
@click.argument("name", required=False)
@click.pass_obj
@needs_catalog
def stats(settings: Settings, name: str | None) -> None:
    """Task states, agreement and accuracy on gold of one queue or all."""
    results = queue_stats(_engine(settings), name)
    if not results:
        click.echo("no queues yet: `flywheel queue create NAME` makes one")
        return
    for s in results:
        agreement = "-" if s.agreement is None else f"{s.agreement:.2f}"
        click.echo(
            f"{s.queue}: open {s.open}, leased {s.leased}, expired {s.expired}, done {s.done}, "
            f"labels {s.labels}, agreement {agreement}"
        )
        for v in s.vendors:
            click.echo(
                f"  vendor {printable(v.vendor)}: gold {v.gold_correct}/{v.gold_answers}{_pct(v.gold_accuracy)}"
            )
        for a in s.annotators:
            est = "" if a.estimated_accuracy is None else f", estimated {a.estimated_accuracy:.2f}"
            click.echo(
                f"    {printable(a.vendor)}/{printable(a.annotator)}: gold {a.gold_correct}/{a.gold_answers}"
                f"{_pct(a.gold_accuracy)}{est}"
            )
    click.echo(f"{len(results)} queue(s)")


def _pct(value: float | None) -> str:
    return "" if value is None else f" ({value:.2f})"


@queue.command("enqueue")
@click.argument("name")
@click.argument("items", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@needs_catalog
def enqueue_cmd(settings: Settings, name: str, items: Path) -> None:
    """Add tasks from ITEMS (JSON Lines: sample_id, kind, prefill, priority)."""
    r = enqueue(_engine(settings), name, _read_items(items))
    click.echo(
        f"queued {r.added} tasks in {name} ({r.skipped} already queued or labelled, {r.gold} gold)"
    )


@queue.command("add-gold")
@click.argument("name")
@click.argument("items", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@needs_catalog
def add_gold_cmd(settings: Settings, name: str, items: Path) -> None:
    """Add gold answers from ITEMS (CSV or JSON Lines with sample_id, label)."""
    rows = _read_items(items)
    added = add_gold(_engine(settings), name, rows)
    click.echo(f"added {added} gold answers to {name} ({len(rows) - added} already gold)")


@queue.command("export-ls")
@click.argument("name")
@click.option(
    "--vendor", required=True, help="Vendor the tasks are leased to (the Label Studio team)."
)
@click.option("--max-tasks", default=100, show_default=True)
@click.option("--lease-seconds", type=int, default=None, help="Default: the queue's.")
@click.option("--kind", type=click.Choice(["label", "verify"]), default="label", show_default=True)
@click.option(
    "--data-key",
    type=click.Choice(list(labelstudio.DATA_KEYS)),
    default=None,
    help="Label Studio object (Image or Audio). Default: the modality of the queue's samples.",
)
@click.option(
    "--media-url",
    default="http://127.0.0.1:8000/v1/media/{task_id}",
    show_default=True,
    help="URL template with {task_id} and {sample_id}.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Label Studio tasks JSON to write.",
)
@click.option(
    "--config-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the Label Studio labeling config (XML).",
)
@click.pass_obj
@needs_catalog
def export_ls(settings: Settings, name: str, vendor: str, max_tasks: int, lease_seconds: int | None,
              kind: str, data_key: str | None, media_url: str, output: Path, config_out: Path | None) -> None:  # fmt: skip
    """Lease tasks of NAME to VENDOR and write them as Label Studio tasks."""
    engine = _engine(settings)
    if data_key is None:
        from flywheel.queue.media import MediaSource

        data_key = labelstudio.queue_modality(engine, name, MediaSource(settings))
    lease_id, ls_tasks = labelstudio.export_tasks(
        engine, vendor, name, max_tasks, media_url, lease_seconds, kind, data_key
    )
    output.write_text(json.dumps(ls_tasks, indent=2) + "\n")
    if config_out is not None:
        with transaction(engine) as conn:
            labels = store.get_queue(conn, name).labels
        config_out.write_text(labelstudio.labeling_config(labels, kind, data_key) + "\n")
    click.echo(f"wrote {len(ls_tasks)} Label Studio tasks to {output} (lease {lease_id or 'none'})")


@queue.command("import-ls")
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--vendor", required=True, help="Vendor the answers are stored under.")
@click.pass_obj
@needs_catalog
def import_ls(settings: Settings, export: Path, vendor: str) -> None:
    """Submit the answers in a Label Studio JSON EXPORT."""
    r = labelstudio.import_annotations(_engine(settings), vendor, _read_items(export))
    for line in r.rejected:
        click.echo(f"not taken: {line}", err=True)
    click.echo(
        f"imported {r.stored} answers ({r.already} already imported, {len(r.rejected)} not taken)"
    )


@click.group("vendor")
def vendor() -> None:
    """Vendors: who may lease from which queues."""


@vendor.command("add")
@click.argument("name")
@names_option("--queues", "Queues it may lease from", required=True)
@names_option(
    "--annotators",
    "Annotator names the vendor must answer under; each counts once towards consensus "
    "(one name: the vendor counts as one annotator). Default: trust the names it sends",
    default="",
)
@click.pass_obj
@needs_catalog
def vendor_add(settings: Settings, name: str, queues: str, annotators: str) -> None:
    """Create vendor NAME; prints its token (shown once) alone on stdout."""
    token = store.add_vendor(
        _engine(settings),
        name,
        parse_names(queues, "--queues"),
        parse_names(annotators, "--annotators") if annotators else [],
    )
    click.echo(token)
    click.echo(f"added vendor {name} for {queues}; the token above is shown only once", err=True)


@vendor.command("revoke")
@click.argument("name")
@click.pass_obj
@needs_catalog
def vendor_revoke(settings: Settings, name: str) -> None:
    """Revoke vendor NAME's token now and release its leases."""
    returned = store.revoke_vendor(_engine(settings), name)
    click.echo(f"revoked vendor {name} ({returned} leased tasks back in their queues)")


@click.command("export-labels")
@click.pass_obj
@needs_catalog
def export_labels(settings: Settings) -> None:
    """Copy new answers and labels into the lake tables (exactly once)."""
    from flywheel.lake import Lake
    from flywheel.queue.export import export_labels as run_export

    click.echo(run_export(Lake(settings), _engine(settings)).line())


COMMANDS = (queue, vendor, export_labels)
