"""Real PostgreSQL and real S3 (moto's standalone server) for the test suite.

Both services run as child processes bound to 127.0.0.1 on a free port, and are gone when
the test run ends: teardown stops them, an ``atexit`` hook covers an interrupted run, and
the kernel's parent-death signal (``setpriv --pdeathsig``) covers a run that is killed
outright. Nothing here patches boto3 or reads credentials from the environment: tests get
endpoints and fake credentials as values and pass them along.

Load the fixtures with ``pytest_plugins = ["tests.services"]`` in ``tests/conftest.py``:

- ``postgres`` (session): a :class:`PostgresInfo` for a fresh PostgreSQL cluster.
- ``pg_url`` (function): a SQLAlchemy URL of a new, empty database, dropped afterwards.
- ``s3`` (session): an :class:`S3Info` for a moto S3 server.
- ``s3_bucket`` (function): the name of a new, empty bucket.

Tests that use them are marked ``postgres`` / ``s3`` automatically, so ``-m "not postgres"``
deselects them.

The context managers work outside pytest too::

    with postgres_server() as pg, moto_s3_server() as s3:
        engine = sqlalchemy.create_engine(pg.url())
        client = boto3.client("s3", **s3.client_kwargs())
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

T = TypeVar("T")

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_START_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it


class ServiceError(RuntimeError):
    """A test service could not be found, started or stopped."""


# ---------------------------------------------------------------------------------------
# process plumbing shared by both services


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _setpriv_prefix(user: pwd.struct_passwd | None, *, death_signal: str | None) -> list[str]:
    """Command prefix that drops root to ``user`` and/or asks for a parent-death signal.

    The death signal goes to the child when the thread that started it exits, so a service
    started from pytest's main thread dies with the test run even on SIGKILL. ``setpriv``
    sets it after changing uid (a uid change would clear it), which ``Popen(user=...)``
    plus a ``preexec_fn`` cannot promise, and ``preexec_fn`` is unsafe once Ray's threads run.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if user is not None:  # still drop root; only the kill-on-crash guard is lost
            return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user.pw_name, "--"]
        return []
    prefix = [setpriv]
    if user is not None:
        prefix += ["--reuid", str(user.pw_uid), "--regid", str(user.pw_gid), "--init-groups"]
    if death_signal is not None:
        prefix += ["--pdeathsig", death_signal]
    return [*prefix, "--"] if len(prefix) > 1 else []


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    """Poll ``ready`` until it is true; raise if ``proc`` exits or the timeout passes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with status {proc.returncode} while starting")
        if ready():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    raise ServiceError(f"{what} did not become ready within {STARTUP_TIMEOUT_S:.0f}s")


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for ``proc`` to exit after it was asked to stop; kill it if it will not."""
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def _cleanup_at_exit(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run ``cleanup`` on leaving the block, or at interpreter exit if the block never ends."""
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            cleanup()

    atexit.register(once)
    try:
        yield
    finally:
        atexit.unregister(once)
        once()


def _make_service_dir(prefix: str) -> Path:
    """A new temp dir tagged with our pid, after removing those of runs that died."""
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((stale / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or another run is still creating it
        if not _pid_alive(owner):
            shutil.rmtree(stale, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix=prefix))
    (root / "owner.pid").write_text(str(os.getpid()))
    return root


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    return True


def _start_with_retries(
    stack: contextlib.ExitStack,
    start: Callable[[], contextlib.AbstractContextManager[T]],
    what: str,
) -> T:
    """Enter ``start()`` on ``stack``, retrying a few times (each try picks a new port)."""
    errors = []
    for _ in range(_START_ATTEMPTS):
        try:
            return stack.enter_context(start())
        except ServiceError as error:
            errors.append(str(error))
    raise ServiceError(f"{what} did not start in {_START_ATTEMPTS} tries; last: {errors[-1]}")


# ---------------------------------------------------------------------------------------
# PostgreSQL


@dataclasses.dataclass(frozen=True)
class PostgresInfo:
    """Where a running test PostgreSQL accepts connections (trust auth, no password).

    >>> PostgresInfo("127.0.0.1", 5433, "postgres", "flywheel").url()
    'postgresql+psycopg2://postgres@127.0.0.1:5433/flywheel'
    """

    host: str
    port: int
    user: str
    dbname: str

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        """A SQLAlchemy URL; ``driver="postgresql"`` gives a libpq URI for psycopg2."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{self.dbname}"


def _find_pg_bindir() -> Path:
    candidates = [Path(p).resolve().parent for p in [shutil.which("initdb")] if p]
    # Debian/Ubuntu keep the server binaries off PATH, one folder per major version.
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise ServiceError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under "
        "/usr/lib/postgresql/*/bin; install them, e.g. `apt-get install postgresql-15`"
    )


def _db_os_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):  # postgres refuses to run as root
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceError("running as root, and there is no `postgres` or `nobody` user to drop to")


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceError(f"{what} failed ({result.returncode}): {result.stderr.strip()}")


def _admin_connect(info: PostgresInfo, dbname: str = "postgres") -> PgConnection:
    import psycopg2

    conn = psycopg2.connect(
        host=info.host, port=info.port, user=info.user, dbname=dbname, connect_timeout=5
    )
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


def _create_database(info: PostgresInfo, name: str) -> None:
    with contextlib.closing(_admin_connect(info)) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')


def _accepts_connections(info: PostgresInfo) -> bool:
    import psycopg2

    try:
        _admin_connect(info).close()
    except psycopg2.OperationalError:
        return False
    return True


@contextlib.contextmanager
def postgres_server(dbname: str = "flywheel") -> Iterator[PostgresInfo]:
    """Start a throwaway PostgreSQL cluster on 127.0.0.1 with database ``dbname``.

    The cluster lives in a temp dir and is built for speed, not durability (fsync off).
    """
    bindir = _find_pg_bindir()
    os_user = _db_os_user()
    as_user = _setpriv_prefix(os_user, death_signal=None)
    root = _make_service_dir("flywheel-pg-")
    try:
        if os_user is not None:
            os.chown(root, os_user.pw_uid, os_user.pw_gid)
        data = root / "data"
        _run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            "initdb",
        )  # fmt: skip
        with contextlib.ExitStack() as stack:
            info = _start_with_retries(
                stack, lambda: _running_postgres(bindir, os_user, root, data), "PostgreSQL"
            )
            _create_database(info, dbname)
            yield dataclasses.replace(info, dbname=dbname)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _running_postgres(
    bindir: Path, os_user: pwd.struct_passwd | None, root: Path, data: Path
) -> Iterator[PostgresInfo]:
    info = PostgresInfo("127.0.0.1", _free_port(), "postgres", "postgres")
    log = root / f"postgres-{info.port}.log"
    # postgres runs in the foreground as our child (not daemonised by `pg_ctl start`), so
    # the parent-death signal reaches it (SIGINT: fast shutdown; SIGTERM would wait for
    # clients to leave); `pg_ctl stop` still works through postmaster.pid.
    cmd = [
        *_setpriv_prefix(os_user, death_signal="INT"), str(bindir / "postgres"), "-D", str(data),
        "-p", str(info.port), "-c", "listen_addresses=127.0.0.1",
        "-c", f"unix_socket_directories={root}", "-c", "fsync=off",
        "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
    ]  # fmt: skip
    stop = [*_setpriv_prefix(os_user, death_signal=None), str(bindir / "pg_ctl"), "stop",
            "-D", str(data), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT_S))]  # fmt: skip
    with log.open("wb") as log_file:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)

    def cleanup() -> None:
        if proc.poll() is None:
            subprocess.run(stop, capture_output=True, check=False)
            _reap(proc)

    with _cleanup_at_exit(cleanup):
        try:
            _wait_until(lambda: _accepts_connections(info), proc, f"postgres on port {info.port}")
        except ServiceError as error:
            raise ServiceError(f"{error}; log {log}:\n{_log_tail(log)}") from None
        yield info


def fresh_database(postgres: PostgresInfo, driver: str = "postgresql+psycopg2") -> str:
    """Create a new, uniquely named, empty database and return its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    _create_database(postgres, name)
    return dataclasses.replace(postgres, dbname=name).url(driver)


def drop_database(postgres: PostgresInfo, url: str) -> None:
    """Drop the database that ``url`` names, closing any connections a test left open."""
    name = url.rsplit("/", 1)[-1]
    with contextlib.closing(_admin_connect(postgres)) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------
# S3 (moto server)


@dataclasses.dataclass(frozen=True)
class S3Info:
    """A running S3-compatible endpoint and the (fake) credentials it accepts.

    >>> info = S3Info("http://127.0.0.1:5000", "us-east-1", "testing", "testing")
    >>> info.env()["AWS_ENDPOINT_URL_S3"]
    'http://127.0.0.1:5000'
    """

    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client("s3", **kwargs)``."""
        return {
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }

    def env(self) -> dict[str, str]:
        """AWS_* variables that point a subprocess's AWS SDKs (boto3, pyarrow) here."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ALLOW_HTTP": "true",  # Rust object_store (pyiceberg-core) refuses http otherwise
            "AWS_EC2_METADATA_DISABLED": "true",  # no slow instance-metadata probes
        }


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status)
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@contextlib.contextmanager
def moto_s3_server(region: str = "us-east-1") -> Iterator[S3Info]:
    """Start moto's standalone server on 127.0.0.1; state lives in its memory only."""
    root = _make_service_dir("flywheel-moto-")
    try:
        with contextlib.ExitStack() as stack:
            endpoint = _start_with_retries(stack, lambda: _running_moto(root), "moto server")
            yield S3Info(endpoint, region, "testing", "testing")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _running_moto(root: Path) -> Iterator[str]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = root / f"moto-{port}.log"
    # SIGTERM, not SIGINT: Python turns SIGINT into KeyboardInterrupt, which can be swallowed.
    cmd = [*_setpriv_prefix(None, death_signal="TERM"), sys.executable, "-m", "moto.server",
           "-H", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with log.open("wb") as log_file:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)

    def cleanup() -> None:
        if proc.poll() is None:
            proc.terminate()
            _reap(proc)

    with _cleanup_at_exit(cleanup):
        try:
            _wait_until(lambda: _answers_http(endpoint), proc, f"moto server on port {port}")
        except ServiceError as error:
            raise ServiceError(f"{error}; log {log}:\n{_log_tail(log)}") from None
        yield endpoint


def fresh_bucket(s3: S3Info) -> str:
    """Create a new, uniquely named, empty bucket and return its name."""
    import boto3

    name = f"flywheel-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", **s3.client_kwargs())
    if s3.region == "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": s3.region}
        )
    return name


# ---------------------------------------------------------------------------------------
# pytest fixtures and hooks


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresInfo]:
    """A PostgreSQL cluster shared by the whole test session."""
    with postgres_server() as info:
        yield info


@pytest.fixture
def pg_url(postgres: PostgresInfo) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database for this test only."""
    url = fresh_database(postgres)
    yield url
    drop_database(postgres, url)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Info]:
    """A moto S3 server shared by the whole test session."""
    with moto_s3_server() as info:
        yield info


@pytest.fixture
def s3_bucket(s3: S3Info) -> str:
    """Name of a new, empty bucket for this test only (left in moto's memory afterwards)."""
    return fresh_bucket(s3)


_MARKER_FOR_FIXTURE = {"postgres": "postgres", "pg_url": "postgres", "s3": "s3", "s3_bucket": "s3"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the services they use, so `-m "not postgres"` can deselect them."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker in {m for f, m in _MARKER_FOR_FIXTURE.items() if f in fixtures}:
            item.add_marker(marker)
