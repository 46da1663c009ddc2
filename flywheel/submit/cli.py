"""``flywheel submit`` and ``flywheel jobs``: the same verbs, sent through the Ray Jobs API.

``submit`` prints its own lines (submitted, finished) on stderr and only the job's log on
stdout, so ``flywheel submit sql ... --format csv > out.csv`` keeps the CSV clean; with
``--no-wait`` the job id alone goes to stdout, for scripts.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.submit import package
from flywheel.submit.errors import JobFailedError
from flywheel.submit.target import JobsTarget

if TYPE_CHECKING:
    # Imported where used: Ray's job SDK costs a second at every `flywheel` start.
    from ray.job_submission import JobDetails

    from flywheel.submit.client import JobsClient

F = TypeVar("F", bound=Callable[..., Any])

_NOT_SUBMITTABLE = {"submit", "jobs"}


def _target_options(f: F) -> F:
    f = click.option(
        "--token",
        default=None,
        help="Ray auth token (default: $RAY_AUTH_TOKEN, the file $RAY_AUTH_TOKEN_PATH, "
        "else ~/.ray/auth_token, as Ray looks for it).",
    )(f)
    f = click.option(
        "--address",
        default=None,
        metavar="URL",
        help="Ray Jobs API: the head's dashboard, e.g. http://127.0.0.1:8265 (default: "
        "$RAY_API_SERVER_ADDRESS, else --ray-address/$RAY_ADDRESS if it is an http URL).",
    )(f)
    return f


def _client(settings: Settings, address: str | None, token: str | None) -> JobsClient:
    target = JobsTarget.from_env(address, token, settings.ray_address)
    if target is None:
        raise ConfigError(
            "no Ray Jobs API address: pass --address http://HEAD:8265 or set RAY_API_SERVER_ADDRESS"
        )
    return _connect(target)


def _connect(target: JobsTarget) -> JobsClient:
    from flywheel.submit.client import JobsClient, quiet_ray_sdk_logs

    quiet_ray_sdk_logs()
    return JobsClient(target)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("verb")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@_target_options
@click.option("--no-wait", is_flag=True, help="Print the job id and return at once.")
@click.pass_context
def submit(
    ctx: click.Context,
    verb: str,
    args: tuple[str, ...],
    address: str | None,
    token: str | None,
    no_wait: bool,
) -> None:
    """Run VERB [ARGS]... as a Ray job: python -m jobs.VERB ARGS on the cluster.

    The source checkout goes along as the job's working dir and the data-root settings
    (FLYWHEEL_ROOT, FLYWHEEL_CATALOG_URI, FLYWHEEL_WAREHOUSE, AWS_*) as its environment.
    Follows the job's log and exits with its status. With no address at all, VERB runs
    here, in this process. Options of submit itself may stand anywhere; put the verb's
    own args after -- if one of them is spelt like them.
    """
    settings: Settings = ctx.obj
    root_command = ctx.find_root().command
    assert isinstance(root_command, click.Group)
    checkout = package.find_checkout()
    verbs = package.submittable_verbs(
        checkout, set(root_command.list_commands(ctx)) - _NOT_SUBMITTABLE
    )
    if verb not in verbs:
        raise ConfigError(f"no job for {verb!r}; flywheel submit runs one of: {', '.join(verbs)}")
    target = JobsTarget.from_env(address, token, settings.ray_address)
    if target is None:
        _run_here(root_command, settings, verb, args)
        return

    if not target.is_loopback and (settings.catalog_is_sqlite or not settings.warehouse_is_s3):
        click.echo(
            f"flywheel: warning: the catalog or warehouse is local ({settings.root}); a remote "
            "cluster needs FLYWHEEL_CATALOG_URI=postgresql... and FLYWHEEL_WAREHOUSE=s3://...",
            err=True,
        )
    client = _connect(target)
    command = package.entrypoint(verb, args)
    job_id = client.submit(
        command,
        package.runtime_env(settings, checkout, os.environ),
        metadata={"flywheel_verb": verb},
    )
    click.echo(f"flywheel: submitted job {job_id} to {target.address}: {command}", err=True)
    if no_wait:
        click.echo(job_id)
        return
    _follow_and_exit(client, job_id)


def _run_here(
    root_command: click.Group, settings: Settings, verb: str, args: tuple[str, ...]
) -> None:
    """``flywheel --root ROOT VERB ARGS`` in this process."""
    click.echo(f"flywheel: no Ray address; running {verb} here", err=True)
    code = root_command.main(
        ["--root", str(settings.root), verb, *args], prog_name="flywheel", standalone_mode=False
    )
    # Non-standalone click returns a verb's ctx.exit(code) instead of raising it.
    if isinstance(code, int) and code:
        raise JobFailedError(f"{verb} exited with status {code}", code)


def _follow_and_exit(client: JobsClient, job_id: str) -> None:
    """Stream the job's log to stdout; exit with the job's status (JobFailedError)."""
    try:
        details = client.follow(job_id, lambda chunk: click.echo(chunk, nl=False))
    except KeyboardInterrupt:
        click.echo(
            f"\nflywheel: stopped following job {job_id}; it keeps running "
            f"(flywheel jobs stop {job_id})",
            err=True,
        )
        raise click.Abort() from None
    code = job_exit_code(details)
    if code:
        raise JobFailedError(f"job {job_id} {details.status}{_why(details)}", code)
    click.echo(f"flywheel: job {job_id} {details.status}", err=True)


def job_exit_code(details: JobDetails) -> int:
    """0 for a job that succeeded; the driver's own exit code when it has one, else 1."""
    from ray.job_submission import JobStatus

    if JobStatus(details.status) == JobStatus.SUCCEEDED:
        return 0
    exit_code = getattr(details, "driver_exit_code", None)
    return exit_code if isinstance(exit_code, int) and exit_code > 0 else 1


def _why(details: JobDetails) -> str:
    if not details.message:
        return ""
    # Ray appends the last logs after a colon; they were streamed already.
    return ": " + details.message.strip().splitlines()[0].split(", last available logs")[0]


@click.group("jobs")
def jobs() -> None:
    """Ray jobs submitted to a cluster: list, logs, stop."""


@jobs.command("list")
@_target_options
@click.pass_obj
def jobs_list(settings: Settings, address: str | None, token: str | None) -> None:
    """Submitted jobs, oldest first: id, status, start, duration, entrypoint."""
    client = _client(settings, address, token)
    rows = [_row(j) for j in client.list_jobs() if j.submission_id]
    header = ("JOB ID", "STATUS", "STARTED", "TOOK", "ENTRYPOINT")
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header[:-1])]
    for cells in (header, *rows):
        fixed = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True))
        click.echo(f"{fixed}  {cells[-1]}")
    click.echo(f"{len(rows)} jobs at {client.target.address}", err=True)


def _row(job: JobDetails) -> tuple[str, str, str, str, str]:
    started = (
        dt.datetime.fromtimestamp(job.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
        if job.start_time
        else "-"
    )
    took = (
        f"{(job.end_time - job.start_time) / 1000:.0f}s" if job.end_time and job.start_time else "-"
    )
    return (job.submission_id or "", str(job.status), started, took, job.entrypoint)


@jobs.command("logs")
@click.argument("job_id")
@_target_options
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the job ends.")
@click.pass_obj
def jobs_logs(
    settings: Settings, job_id: str, address: str | None, token: str | None, follow: bool
) -> None:
    """Print the log of JOB_ID (with --follow, until it ends, and exit with its status)."""
    client = _client(settings, address, token)
    if follow:
        _follow_and_exit(client, job_id)
        return
    click.echo(client.logs(job_id), nl=False)


@jobs.command("stop")
@click.argument("job_id")
@_target_options
@click.pass_obj
def jobs_stop(settings: Settings, job_id: str, address: str | None, token: str | None) -> None:
    """Ask JOB_ID to stop (SIGTERM to its driver, then SIGKILL)."""
    client = _client(settings, address, token)
    if client.stop(job_id):
        click.echo(f"asked job {job_id} to stop")
    else:
        click.echo(f"job {job_id} had already ended ({client.info(job_id).status})")


COMMANDS = (submit, jobs)
