"""A real Ray head started with ``ray start --head`` for the submit tests, with token
auth on, and helpers to run the CLI in this process.

The head is a separate cluster from the session's in-process one: its own ``--temp-dir``,
its own free ports (outside the kernel's ephemeral range), its own HOME (so its
``~/.ray/auth_token`` is ours, not the user's). ``ray start --block`` stays in the foreground, so
stopping it stops the node; whatever still runs from our temp dir, HOME or working dir
afterwards is killed by pid, and teardown fails if anything survives. The kernel's
parent-death signal (``setpriv --pdeathsig``) covers a test run that is killed outright.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from flywheel.cli import main
from tests.submit.registration import ensure_submit_commands

START_TIMEOUT_S = 180.0  # a loaded 2-core machine needs ~30 s; far more means broken
STOP_TIMEOUT_S = 30.0
START_ATTEMPTS = 3


@pytest.fixture(scope="session", autouse=True)
def _submit_commands_registered() -> None:
    ensure_submit_commands()


@dataclass(frozen=True)
class RayHead:
    address: str  # the Jobs API (dashboard), http://127.0.0.1:PORT
    token: str
    home: Path  # HOME of the head; home/.ray/auth_token holds the token
    base: Path  # everything of this head lives below


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str
    seconds: float


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment with no Ray or flywheel settings and an empty HOME (no token)."""
    for name in list(os.environ):
        if name.startswith(("RAY_ADDRESS", "RAY_API_SERVER", "RAY_AUTH_", "FLYWHEEL_", "AWS_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def run_cli(capfd: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """``flywheel ARGS`` in this process; what reached the real stdout and stderr
    (file descriptors, so Ray's own log handlers are caught too)."""
    capfd.readouterr()
    started = time.monotonic()
    code = main(list(args))
    seconds = time.monotonic() - started
    captured = capfd.readouterr()
    return CliResult(code, captured.out, captured.err, seconds)


# Ports for the head: below the kernel's ephemeral range (32768-60999 here), so no
# outgoing connection of this busy test process can take one between our pick and Ray's
# bind, and above Ray's worker port range (10002-19999). A port-0 pick can be taken so:
# the head's agents bind theirs seconds after the dashboard answers, and an agent that
# cannot bind takes the whole node down with it.
_PORTS = range(20000, 32000)
_picked: set[int] = set()


def free_port() -> int:
    rng = random.Random()
    for _ in range(200):
        port = rng.choice(_PORTS)
        if port in _picked:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _picked.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORTS.start}-{_PORTS.stop - 1}")


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    with ray_head_process() as head:
        yield head


@contextlib.contextmanager
def ray_head_process() -> Iterator[RayHead]:
    """A running head; a start that dies (a port taken since we picked it) is retried."""
    failures = []
    for _ in range(START_ATTEMPTS):
        head, proc = _start_head()
        try:
            _wait_ready(head, proc)
            break
        except _HeadExited as err:
            failures.append(str(err))
            _stop(proc, head)
            shutil.rmtree(head.base, ignore_errors=True)
        except BaseException:
            _stop(proc, head)
            shutil.rmtree(head.base, ignore_errors=True)
            raise
    else:
        raise RuntimeError(f"ray start failed {START_ATTEMPTS} times; last:\n{failures[-1]}")
    try:
        yield head
    finally:
        _stop(proc, head)
        shutil.rmtree(head.base, ignore_errors=True)


class _HeadExited(RuntimeError):
    pass


def _start_head() -> tuple[RayHead, subprocess.Popen[bytes]]:
    # Short path: Ray's unix sockets live below it and must stay under 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="fw-head-", dir="/tmp"))
    home = base / "home"
    (home / ".ray").mkdir(parents=True)
    token = secrets.token_hex(32)  # what `ray get-auth-token --generate` writes
    (home / ".ray" / "auth_token").write_text(token)
    dashboard = free_port()
    head = RayHead(f"http://127.0.0.1:{dashboard}", token, home, base)

    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "FLYWHEEL_"))}
    env.update(
        HOME=str(home),
        PATH=f"{venv_bin}:{env.get('PATH', '')}",  # the job's `python` is this venv's
        RAY_AUTH_MODE="token",  # keep auth on; the token comes from $HOME/.ray/auth_token
        RAY_USAGE_STATS_ENABLED="0",
    )
    ports = {
        "--port": free_port(),
        "--dashboard-port": dashboard,
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
        "--ray-client-server-port": free_port(),  # not 10001, which others may hold
    }
    command = [
        *_pdeathsig_prefix(),
        str(Path(venv_bin) / "ray"),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        *(f"{flag}={port}" for flag, port in ports.items()),
        "--num-cpus=2",
        f"--object-store-memory={200 * 1024**2}",
        "--disable-usage-stats",
        f"--temp-dir={base / 'ray'}",
    ]
    with open(base / "head.log", "wb") as log_file:
        proc = subprocess.Popen(
            command,
            cwd=base,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return head, proc


def _pdeathsig_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def _wait_ready(head: RayHead, proc: subprocess.Popen[bytes]) -> None:
    log = head.base / "head.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _HeadExited(f"ray start exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{head.address}/api/version", headers=_auth(head), timeout=5).ok:
                break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"the Ray head was not up within {START_TIMEOUT_S:.0f}s:\n{_tail(log)}")
    _wait_job_runs(head, proc, deadline)


def _auth(head: RayHead) -> dict[str, str]:
    return {"Authorization": f"Bearer {head.token}"}


def _wait_job_runs(head: RayHead, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Up means a job runs to the end: the dashboard answers before the raylet's agents
    (runtime env, dashboard agent) are up, and a node whose agent fails dies then. Until
    the head's job agent is up, a submission is refused; it is tried again."""
    log = head.base / "head.log"
    job, last = None, ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _HeadExited(
                f"the head exited with {proc.returncode} on a no-op job:\n{_tail(log)}"
            )
        with contextlib.suppress(requests.RequestException):
            if job is None:
                answer = requests.post(f"{head.address}/api/jobs/", headers=_auth(head),
                                       json={"entrypoint": "python -c pass"}, timeout=30)  # fmt: skip
                if answer.ok:
                    job = answer.json()["submission_id"]
                last = f"submit: {answer.status_code} {answer.text[:300]}"
            else:
                answer = requests.get(
                    f"{head.address}/api/jobs/{job}", headers=_auth(head), timeout=5
                )
                status = answer.json().get("status") if answer.ok else None
                if status == "SUCCEEDED":
                    return
                last = f"job {job}: {status} {answer.text[:300]}"
                if status in ("FAILED", "STOPPED"):
                    raise RuntimeError(f"a no-op job ended {status} on the test head: {last}")
        time.sleep(0.5)
    raise RuntimeError(f"no no-op job ran on the head in time ({last}):\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes], head: RayHead) -> None:
    """Stop the head, then kill by pid whatever of ours outlived it; fail if any stays."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` then stops its node
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while (left := _our_processes(head)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    if left:
        raise RuntimeError(f"processes of the test Ray head outlived it: {sorted(left)}")


def _our_processes(head: RayHead) -> set[int]:
    """Processes that belong to this head: started below its base dir (as its workers
    and job drivers are), naming it in their command line, or with its HOME."""
    marker, home = str(head.base), f"HOME={head.home}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if cwd.startswith(marker) or marker.encode() in cmdline or home in environ:
            found.add(int(entry.name))
    return found


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
