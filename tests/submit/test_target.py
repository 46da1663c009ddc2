"""Where submit finds the Jobs API address and the token, and how it retries a fresh
head (no cluster needed: a local server speaks the Jobs API's wire format)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import ray

from flywheel.errors import ConfigError
from flywheel.submit import JobsTarget, find_token
from flywheel.submit.client import SUBMIT_ATTEMPTS, JobsClient
from flywheel.submit.errors import JobsApiError


def _home_with_token(tmp_path: Path, token: str) -> Path:
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(token + "\n")
    return tmp_path


def test_token_precedence_is_rays(tmp_path: Path) -> None:
    home = _home_with_token(tmp_path, "from-home")
    file = tmp_path / "token-file"
    file.write_text("from-path\n")
    env = {"HOME": str(home), "RAY_AUTH_TOKEN_PATH": str(file), "RAY_AUTH_TOKEN": "from-env"}

    assert find_token("from-flag", env) == ("from-flag", "--token")
    assert find_token(None, env) == ("from-env", "RAY_AUTH_TOKEN")
    del env["RAY_AUTH_TOKEN"]
    assert find_token(None, env) == ("from-path", f"RAY_AUTH_TOKEN_PATH ({file})")
    del env["RAY_AUTH_TOKEN_PATH"]
    assert find_token(None, env) == ("from-home", str(home / ".ray" / "auth_token"))


def test_no_token_anywhere_is_none(tmp_path: Path) -> None:
    assert find_token(None, {"HOME": str(tmp_path)}) == (None, "no token")


def test_a_token_path_that_cannot_be_read_is_an_error_as_in_ray(tmp_path: Path) -> None:
    env = {"HOME": str(_home_with_token(tmp_path, "x")), "RAY_AUTH_TOKEN_PATH": "/nonexistent"}
    with pytest.raises(ConfigError, match="RAY_AUTH_TOKEN_PATH=/nonexistent"):
        find_token(None, env)


def test_address_flag_beats_environment(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "RAY_API_SERVER_ADDRESS": "http://env:8265"}
    target = JobsTarget.from_env("http://flag:8265/", None, "http://cluster:8265", env)
    assert target is not None and target.address == "http://flag:8265"


def test_api_server_address_then_an_http_ray_address(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "RAY_API_SERVER_ADDRESS": "10.0.0.5:8265"}
    target = JobsTarget.from_env(None, None, "http://cluster:8265", env)
    assert target is not None and target.address == "http://10.0.0.5:8265"
    target = JobsTarget.from_env(None, None, "https://cluster:443", {"HOME": str(tmp_path)})
    assert target is not None and target.address == "https://cluster:443"


def test_no_address_at_all_means_run_here(tmp_path: Path) -> None:
    assert JobsTarget.from_env(None, None, None, {"HOME": str(tmp_path)}) is None


def test_a_gcs_ray_address_is_not_taken_for_the_jobs_api(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RAY_API_SERVER_ADDRESS"):
        JobsTarget.from_env(None, None, "127.0.0.1:6379", {"HOME": str(tmp_path)})


def test_non_http_address_is_rejected_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"--address http://127\.0\.0\.1:8265"):
        JobsTarget("ray://head:10001")


def test_token_is_sent_as_a_bearer_header_and_never_printed() -> None:
    target = JobsTarget("http://h:8265", token="s3cret", token_source="--token")
    assert target.headers() == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(target)
    assert JobsTarget("http://h:8265").headers() == {}


class _Dashboard(http.server.BaseHTTPRequestHandler):
    """A Jobs API that speaks Ray's wire format: its version, and a submit that answers
    ``failures`` times what a head answers before its job agent registered."""

    failures = 0
    failure_text = "No available agent to submit job, please try again later."
    submits: ClassVar[list[dict[str, object]]] = []

    def do_GET(self) -> None:
        body = {"version": "4", "ray_version": ray.__version__, "ray_commit": "test"}
        self._reply(200, json.dumps(body))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        type(self).submits.append(json.loads(self.rfile.read(length)))
        if len(type(self).submits) <= type(self).failures:
            self._reply(500, type(self).failure_text)
        else:
            self._reply(200, json.dumps({"job_id": "raysubmit_1", "submission_id": "raysubmit_1"}))

    def _reply(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def dashboard() -> Iterator[tuple[str, type[_Dashboard]]]:
    handler = type("Dashboard", (_Dashboard,), {"submits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_submit_retries_a_fresh_heads_no_available_agent(
    dashboard: tuple[str, type[_Dashboard]],
) -> None:
    address, handler = dashboard
    handler.failures = 2  # what a head answers for a few seconds after `ray start`
    client = JobsClient(JobsTarget(address))
    assert client.submit("python -c pass", {}, {}) == "raysubmit_1"
    assert len(handler.submits) == 3


def test_submit_gives_up_on_no_agent_after_a_bounded_retry(
    dashboard: tuple[str, type[_Dashboard]],
) -> None:
    address, handler = dashboard
    handler.failures = 100
    started = time.monotonic()
    with pytest.raises(JobsApiError, match="No available agent"):
        JobsClient(JobsTarget(address)).submit("python -c pass", {}, {})
    assert len(handler.submits) == SUBMIT_ATTEMPTS and time.monotonic() - started < 30


def test_submit_does_not_retry_other_errors(dashboard: tuple[str, type[_Dashboard]]) -> None:
    address, handler = dashboard
    handler.failures, handler.failure_text = 5, "bad entrypoint"
    with pytest.raises(JobsApiError, match="bad entrypoint"):
        JobsClient(JobsTarget(address)).submit("python -c pass", {}, {})
    assert len(handler.submits) == 1
