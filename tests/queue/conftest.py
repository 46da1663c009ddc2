"""Queue fixtures: a database per backend, and the real API under uvicorn.

``db_url`` runs a test once on a SQLite file and once on a fresh PostgreSQL database
(the ``pg_url`` fixture of tests/services.py). ``ApiServer`` starts the vendor API in a
subprocess on a free 127.0.0.1 port, exactly as ``uvicorn --factory`` would host it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from flywheel.config import Settings
from flywheel.db import open_engine

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLAlchemy URL of an empty database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = open_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def queue_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings on the parametrised catalog with a local warehouse."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return Settings.from_env(root=root, environ={"FLYWHEEL_CATALOG_URI": db_url})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PRODUCT_APP = "flywheel.api:create_app_from_env"


@dataclass
class ApiServer:
    """The vendor API in a child process; ``start`` again after ``stop`` or a crash."""

    settings: Settings
    extra_env: dict[str, str]
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, factory: str = PRODUCT_APP, **extra_env: str) -> ApiServer:
        """Start ``factory`` (module:function) under uvicorn, with ``extra_env``."""
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_"))}
        env.update(
            FLYWHEEL_ROOT=str(self.settings.root),
            FLYWHEEL_CATALOG_URI=self.settings.catalog_uri,
            FLYWHEEL_WAREHOUSE=self.settings.warehouse,
        )
        env.update(self.extra_env)
        env.update(extra_env)
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", factory,
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"API exited with {self.proc.returncode}: {self.log.read_text()}"
                )
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{self.url}/v1/queues", timeout=1)
                return self
            time.sleep(0.1)
        raise RuntimeError(f"API did not start in 30 s: {self.log.read_text()}")

    def wait_exit(self, timeout: float = 10) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def api_server(queue_settings: Settings, tmp_path: Path) -> Iterator[ApiServer]:
    """A started API on the parametrised database; stopped after the test."""
    server = ApiServer(queue_settings, {}, tmp_path / "api.log")
    yield server.start()
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """One database per backend for a whole module (tests keep apart by name)."""
    root = tmp_path_factory.mktemp("shared")
    if request.param == "sqlite":
        yield Settings.from_env(root=root, environ={})
        return
    from tests.services import drop_database, fresh_database

    postgres = request.getfixturevalue("postgres")
    url = fresh_database(postgres)
    yield Settings.from_env(root=root, environ={"FLYWHEEL_CATALOG_URI": url})
    drop_database(postgres, url)


@pytest.fixture(scope="module")
def shared_engine(shared_settings: Settings) -> Iterator[Engine]:
    eng = open_engine(shared_settings.catalog_uri)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def shared_server(shared_settings: Settings, shared_engine: Engine) -> Iterator[ApiServer]:
    """One API per backend for a whole module."""
    server = ApiServer(shared_settings, {}, shared_settings.root / "api.log")
    yield server.start()
    server.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
