"""The ``flywheel`` command line: the one place that turns flags and environment into
``Settings`` and maps ``FlywheelError`` to a one-line message and an exit code.

Each stage keeps its own commands in its own package (``flywheel/<stage>/cli.py``)
and they are registered on ``main`` below; ``ctx.obj`` is the ``Settings``.
"""

from __future__ import annotations

import sys

import click

from flywheel.config import Settings
from flywheel.errors import FlywheelError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Data root (default: $FLYWHEEL_ROOT or ./flywheel-data).",
)
@click.option(
    "--ray-address",
    default=None,
    help="Ray cluster to use (default: $RAY_ADDRESS, else an in-process local cluster).",
)
@click.pass_context
def cli(ctx: click.Context, root: str | None, ray_address: str | None) -> None:
    """flywheel: an active-learning data flywheel on Ray."""
    ctx.obj = Settings.from_env(root=root, ray_address=ray_address)


def _register() -> None:
    # Each stage keeps its commands in its own package; this is the one list of them.
    from flywheel.bench.cli import bench
    from flywheel.ingest.cli import ingest
    from flywheel.lake.cli import duckdb_init, sql, tables
    from flywheel.loop.cli import COMMANDS as loop_commands
    from flywheel.queue.cli import COMMANDS as queue_commands
    from flywheel.reports.cli import COMMANDS as report_commands
    from flywheel.score.cli import score
    from flywheel.selection.cli import select
    from flywheel.submit.cli import COMMANDS as submit_commands
    from flywheel.train.cli import train

    for command in (
        ingest,
        sql,
        tables,
        duckdb_init,
        train,
        score,
        select,
        *queue_commands,
        *submit_commands,
        *report_commands,
        *loop_commands,
        bench,
    ):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script. Returns the exit code."""
    try:
        # Outside standalone mode click returns ctx.exit(n)'s code instead of raising it.
        rv = cli.main(args=argv, prog_name="flywheel", standalone_mode=False)
    except FlywheelError as err:
        click.echo(f"flywheel: error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except click.Abort:
        click.echo("flywheel: aborted", err=True)
        return 130
    except click.ClickException as err:
        # Usage errors (unknown option, missing argument): one line, like ours.
        where = f"{err.ctx.command_path}: " if isinstance(err, click.UsageError) and err.ctx else ""
        click.echo(f"flywheel: error: {where}{err.format_message()}", err=True)
        return err.exit_code
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
