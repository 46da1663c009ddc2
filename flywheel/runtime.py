"""Starting or joining Ray: the embedded default is an in-process local cluster bound
to 127.0.0.1; with an address (``--ray-address``/``RAY_ADDRESS``) we join that cluster.

Quiet by default: Ray's own output (its Python loggers, Ray Data's progress bars and
execution notes, and the stdout and stderr of this job's workers and actors: Ray Train's
controller and workers, Ray Data's tasks) goes to ``ROOT/logs/ray-<time>-<pid>.log``,
and the CLI names the file when the verb ends. ``Settings.verbose`` (``flywheel -v``)
puts it all back on the terminal. See docs/decisions/cli-quiet-ray.md.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray._private.ray_logging import global_worker_stdstream_dispatcher as _DISPATCHER
from ray._private.worker import filter_autoscaler_events
from ray.experimental.tqdm_ray import RAY_TQDM_MAGIC

from flywheel.config import Settings

# Ray's Python loggers whose console handlers move to the log file when quiet.
_RAY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune", "ray.serve", "ray.air")

# The log file this process writes Ray's output to (None: verbose, or Ray not started here).
RAY_LOG: Path | None = None
_handler: logging.FileHandler | None = None


def ensure_ray(settings: Settings) -> None:
    """Connect to Ray once per process (a no-op when already connected, as in tests and
    inside a Ray job, where Ray sets RAY_ADDRESS for the driver)."""
    global RAY_LOG
    if ray.is_initialized():
        return
    RAY_LOG = None
    _DISPATCHER.remove_handler(_WE_WRITE)  # from an earlier quiet start in this process
    # Ray's own noise (token-auth notice, usage stats) is not flywheel's output.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not settings.verbose:
        _quiet(settings.root / "logs")
    # -v shows Ray's INFO lines too (its start-up notice, Ray Train's progress).
    level = logging.INFO if settings.verbose else logging.WARNING
    # Workers' output always streams to this process; when quiet, _workers_to_log then
    # points that stream at the log file instead of the terminal.
    common = {"logging_level": level, "log_to_driver": True}
    if settings.ray_address:
        ray.init(address=settings.ray_address, **common)  # type: ignore[arg-type]
    else:
        _init_local(common)
    # Whatever in this process looks Ray up later (the state API) finds this cluster,
    # not another local instance started by someone else.
    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    if RAY_LOG is not None:
        _workers_to_log()
        _quiet_loggers()
        if "ray.data" in sys.modules:  # else the verb that imports it calls quiet_ray_data
            quiet_ray_data()


def _init_local(common: dict[str, Any]) -> None:
    """A fresh local cluster whose every worker knows its address.

    Ray's own actors look the cluster up again by address (Ray Train's detached
    ``PlacementGroupCleaner`` asks the state API whether the controller lives); with no
    ``RAY_ADDRESS`` in a worker's environment that lookup scans the machine and fails
    with "Found multiple active Ray instances" beside anyone else's local Ray. The GCS
    port is only known once the cluster runs, and a job's environment is fixed before:
    so we choose the port (``RAY_GCS_SERVER_PORT``, read by Ray's head node while it
    starts) and hand every worker of this job the address through the job's
    ``runtime_env``. See docs/decisions/cli-quiet-ray.md.
    """
    port = _free_port()
    before = os.environ.get(_GCS_PORT)
    os.environ[_GCS_PORT] = str(port)
    try:
        ray.init(
            address="local",  # always a fresh in-process cluster, never one found by chance
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            configure_logging=True,
            runtime_env={"env_vars": {"RAY_ADDRESS": f"127.0.0.1:{port}"}},
            **common,
        )
    finally:  # only this start chooses its port; a later one in this process chooses anew
        if before is None:
            os.environ.pop(_GCS_PORT, None)
        else:
            os.environ[_GCS_PORT] = before


_GCS_PORT = "RAY_GCS_SERVER_PORT"


def _free_port() -> int:
    """A TCP port nothing listens on now (the GCS binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        port: int = probe.getsockname()[1]
    return port


def _quiet(log_dir: Path) -> None:
    global RAY_LOG, _handler
    log = log_dir / f"ray-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    if _handler is not None:  # Ray started again in this process: a new file
        logging.getLogger("ray").removeHandler(_handler)
        _handler.close()
        _handler = None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        _handler = logging.FileHandler(log, encoding="utf-8")
    except OSError:
        return  # a root this process cannot write (a job's driver elsewhere): Ray speaks
    RAY_LOG = log
    _handler.setLevel(logging.INFO)  # Ray Data logs DEBUG to its own session file already
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _quiet_loggers()
    _divert_native_stderr(RAY_LOG)


def _divert_native_stderr(log: Path) -> None:
    """Ray's C++ core worker in this process writes its ERROR lines straight to file
    descriptor 2 (``core_worker.cc:... Actor with class name ...``). Point descriptor 2
    at the log file and give Python's ``sys.stderr`` (our progress bars and messages) a
    copy of the terminal. Only for a process whose ``sys.stderr`` is descriptor 2 (not
    under a test's capture)."""
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, ValueError):
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    encoding = sys.stderr.encoding
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=encoding, errors="backslashreplace")


# The names of Ray's handler that prints workers' output on the terminal and of ours.
_RAY_PRINTS = "ray_print_logs"
_WE_WRITE = "flywheel_ray_log"


def _workers_to_log() -> None:
    """Write the workers' and actors' stdout and stderr of this job to the log file
    instead of the terminal.

    With ``log_to_driver`` Ray's driver thread receives every line a worker of this job
    prints (the log monitor tails the session's ``worker-*.out``/``.err`` files and
    publishes them through the GCS) and hands each batch to the handlers of
    ``global_worker_stdstream_dispatcher``; ``ray.init`` registers the one that prints
    them. Swapping that handler for ours keeps the stream live (a killed verb has written
    what came before) and Ray's own ``(Actor pid=N)`` prefixes. A private API of Ray 2.60
    (pinned in pyproject.toml); tests/test_cli_quiet.py fails if it moves.
    """
    _DISPATCHER.remove_handler(_RAY_PRINTS)
    _DISPATCHER.add_handler(_WE_WRITE, _write_worker_lines)


def _write_worker_lines(batch: dict[str, Any]) -> None:
    """One batch from the dispatcher: ``lines`` of one process (``pid``, and
    ``actor_name`` or ``task_name``), written as Ray prints them, without colours."""
    handler = _handler
    if handler is None or handler.stream is None:
        return
    name = batch.get("actor_name") or batch.get("task_name") or ""
    pid = batch.get("pid")
    prefix = "" if pid in ("autoscaler", "raylet") else f"{name} pid=".lstrip()
    ip = batch.get("ip")
    where = "" if ip == batch.get("localhost") else f", ip={ip}"
    lines = batch.get("lines", [])
    if pid == "autoscaler":  # its whole status every few seconds: only events, as Ray does
        lines = filter_autoscaler_events(lines)
    # tqdm_ray's progress bars travel as JSON lines with a magic token: not for a file.
    text = "".join(f"({prefix}{pid}{where}) {ln}\n" for ln in lines if RAY_TQDM_MAGIC not in ln)
    if text:
        handler.acquire()  # the same lock as the log records Ray's loggers write
        try:
            handler.stream.write(text)
            handler.stream.flush()
        finally:
            handler.release()


def _quiet_loggers() -> None:
    """Move the console handlers of Ray's loggers to the log file (again after
    ``ray.init``, which installs its own)."""
    assert _handler is not None
    for name in _RAY_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if isinstance(old, logging.StreamHandler) and not isinstance(old, logging.FileHandler):
                logger.removeHandler(old)
        logger.propagate = name != "ray"  # children reach the file through "ray"
    root = logging.getLogger("ray")
    if _handler not in root.handlers:
        root.addHandler(_handler)


def quiet_ray_data() -> None:
    """No Ray Data progress bars or execution notes on the terminal: flywheel draws its
    own bars. Call after importing ``ray.data`` (importing it costs seconds, so
    ``ensure_ray`` does not); a no-op when Ray's output stays on the terminal."""
    if RAY_LOG is None:
        return
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    # Ray Data configures its "ray.data" logger (a console handler) on import.
    _quiet_loggers()


def cluster_cpus() -> int:
    """CPUs the cluster offers now (at least 1): the size of a per-CPU actor pool."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
