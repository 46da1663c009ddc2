"""The ``flywheel`` command line: the one place that turns flags and environment into
``Settings`` and maps ``FlywheelError`` to a one-line message and an exit code.

Each stage keeps its own commands in its own package (``flywheel/<stage>/cli.py``).
They are listed in ``VERBS`` below and imported only when that verb runs, so
``flywheel --help`` and ``flywheel --version`` start without torch, Ray or DuckDB
(tests/test_cli_feel.py pins the modules ``import flywheel.cli`` may load).
``ctx.obj`` is the ``Settings``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, NamedTuple

import click

from flywheel import __version__
from flywheel.config import Settings
from flywheel.errors import FlywheelError


class Verb(NamedTuple):
    target: str  # "module:attribute" of the click command
    summary: str  # the first sentence of its help, shown by `flywheel --help`


# The one list of verbs. A test checks each summary against the command's own help.
VERBS: dict[str, Verb] = {
    "ingest": Verb("flywheel.ingest.cli:ingest", "Ingest SOURCE into the lake."),
    "tables": Verb("flywheel.lake.cli:tables", "List the lake's tables."),
    "sql": Verb("flywheel.lake.cli:sql", "Run a read-only DuckDB QUERY over the lake."),
    "duckdb-init": Verb("flywheel.lake.cli:duckdb_init", "Print a DuckDB init script."),
    "train": Verb("flywheel.train.cli:train", "Train a model version with Ray Train."),
    "score": Verb("flywheel.score.cli:score", "Score the unlabelled pool with a model."),
    "select": Verb("flywheel.selection.cli:select", "Pick the pool samples to label next."),
    "queue": Verb("flywheel.queue.cli:queue", "Annotation queues."),
    "vendor": Verb("flywheel.queue.cli:vendor", "Vendors: who may lease from which queues."),
    "serve": Verb("flywheel.api.cli:serve", "Run the vendor HTTP API (uvicorn)."),
    "export-labels": Verb("flywheel.queue.cli:export_labels", "Copy new answers into the lake."),
    "loop": Verb("flywheel.loop.cli:loop", "Run the flywheel."),
    "gate": Verb("flywheel.loop.cli:gate", "Run the gates on candidate VERSION."),
    "models": Verb("flywheel.loop.cli:models", "Model versions."),
    "status": Verb("flywheel.loop.cli:status", "Pool, queues, recent labels, model and loop."),
    "report-error": Verb("flywheel.loop.cli:report_error", "Record a bad output from the field."),
    "browse": Verb("flywheel.reports.cli:browse", "A static HTML gallery of samples."),
    "embeddings": Verb("flywheel.reports.cli:embeddings", "Project a model's embeddings to 2-D."),
    "report": Verb("flywheel.reports.cli:report", "Reports on the data and the models."),
    "submit": Verb("flywheel.submit.cli:submit", "Run VERB [ARGS]... as a Ray job."),
    "jobs": Verb("flywheel.submit.cli:jobs", "Ray jobs submitted to a cluster."),
    "bench": Verb("flywheel.bench.cli:bench", "Benchmarks on real data."),
    "demo": Verb("flywheel.demo_cli:demo", "Run the whole flywheel on real data."),
}

# Verbs that pass their arguments through untouched (submit) take no shared options.
_PASS_THROUGH = {"submit"}


def _settings(ctx: click.Context) -> Settings:
    # None only when a command line is parsed without running the group (a test of the
    # README's lines); then the environment's settings stand in.
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_env()


def _root_after_verb(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.obj = _settings(ctx).with_root(value)


def _ray_address_after_verb(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.obj = _settings(ctx).with_ray_address(value)


def _verbose_after_verb(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.obj = _settings(ctx).with_verbose()


_ROOT_HELP = "Data root (default: $FLYWHEEL_ROOT or ./flywheel-data)."
_RAY_ADDRESS_HELP = "Ray cluster to use (default: $RAY_ADDRESS, else an in-process local cluster)."
_VERBOSE_HELP = "Show Ray's own logs too (default: they go to a log file under the root)."


def _shared_options(command: click.Command) -> None:
    """``--root``, ``--ray-address`` and ``-v`` are accepted after the verb as well as
    before it."""
    names = {opt for p in command.params for opt in p.opts}
    if "--root" not in names:
        command.params.append(
            click.Option(
                ["--root"],
                type=click.Path(file_okay=False),
                expose_value=False,
                callback=_root_after_verb,
                help=_ROOT_HELP,
            )
        )
    if "--ray-address" not in names:
        command.params.append(
            click.Option(
                ["--ray-address"],
                expose_value=False,
                callback=_ray_address_after_verb,
                help=_RAY_ADDRESS_HELP,
            )
        )
    if "--verbose" not in names:
        command.params.append(
            click.Option(
                ["-v", "--verbose"],
                is_flag=True,
                expose_value=False,
                callback=_verbose_after_verb,
                help=_VERBOSE_HELP,
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _shared_options(sub)


def _load(name: str, verb: Verb) -> click.Command:
    module, _, attr = verb.target.partition(":")
    command: click.Command = getattr(importlib.import_module(module), attr)
    if name not in _PASS_THROUGH:
        _shared_options(command)
    return command


class _LazyCommands(MutableMapping[str, click.Command]):
    """``Group.commands`` that imports a verb's module on first access."""

    def __init__(self) -> None:
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            self._loaded[name] = _load(name, VERBS[name])  # KeyError: no such verb
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*VERBS, *self._loaded]))

    def __len__(self) -> int:
        return len(set(VERBS) | set(self._loaded))

    def __contains__(self, name: object) -> bool:
        return name in VERBS or name in self._loaded


class LazyGroup(click.Group):
    """A group whose verbs are imported when they run, not when the CLI starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands()

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """A verb added later (a plugin, a test) takes --root and -v after it too."""
        if (name or cmd.name) not in _PASS_THROUGH:
            _shared_options(cmd)
        super().add_command(cmd, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        try:
            return self.commands[cmd_name]
        except KeyError:
            return None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The summaries come from VERBS: listing the verbs imports none of them.
        rows = [(name, VERBS[name].summary) for name in VERBS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="flywheel", message="%(prog)s %(version)s"
)
@click.option("--root", type=click.Path(file_okay=False), default=None, help=_ROOT_HELP)
@click.option("--ray-address", default=None, help=_RAY_ADDRESS_HELP)
@click.option("-v", "--verbose", is_flag=True, help=_VERBOSE_HELP)
@click.pass_context
def cli(ctx: click.Context, root: str | None, ray_address: str | None, verbose: bool) -> None:
    """flywheel: an active-learning data flywheel on Ray.

    Options --root, --ray-address and -v may also follow the verb.
    """
    ctx.obj = Settings.from_env(root=root, ray_address=ray_address, verbose=verbose)


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
        click.echo(f"flywheel: error: {_where(err)}{err.format_message()}", err=True)
        return err.exit_code
    finally:
        name_ray_log()
    return rv if isinstance(rv, int) else 0


def _where(err: click.ClickException) -> str:
    """The verb a usage error is about ("queue create: "), without a second "flywheel"."""
    if not isinstance(err, click.UsageError) or err.ctx is None:
        return ""
    path = err.ctx.command_path.split(" ", 1)
    return f"{path[1]}: " if len(path) > 1 else ""


def name_ray_log() -> None:
    """Where Ray's own output went, when this run started Ray quietly."""
    runtime = sys.modules.get("flywheel.runtime")
    log = getattr(runtime, "RAY_LOG", None)
    if log is not None:
        click.echo(f"flywheel: Ray's log: {log}", err=True)


if __name__ == "__main__":
    sys.exit(main())
