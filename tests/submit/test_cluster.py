"""``flywheel submit`` and ``flywheel jobs`` against a real head from ``ray start --head``
with token auth on; and the reliability promise: a head that is down, or a wrong or
missing token, fails in seconds with one clear line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.lake import Lake
from flywheel.sample_data import write_digits_folder
from tests.submit.conftest import RayHead, free_port, run_cli

FAIL_FAST_S = 5.0  # the promise is "in seconds"; connection setup alone is milliseconds

pytestmark = pytest.mark.slow


@pytest.fixture
def head_env(ray_head: RayHead, cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> RayHead:
    """The CLI finds the head's token where `ray start` users have it: ~/.ray/auth_token."""
    monkeypatch.setenv("HOME", str(ray_head.home))
    return ray_head


def _job_id(stderr: str) -> str:
    match = re.search(r"submitted job (\S+) to ", stderr)
    assert match, stderr
    return match.group(1)


def test_submit_ingest_runs_on_the_head_and_lands_in_the_data_root(
    head_env: RayHead, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = write_digits_folder(tmp_path / "digits", n=24, seed=1)
    root = tmp_path / "root"
    result = run_cli(
        capfd,
        *("--root", str(root), "submit", "ingest", str(folder.root)),
        *("--taxonomy", str(folder.taxonomy), "--address", head_env.address),
    )
    assert result.code == 0, result.err
    job_id = _job_id(result.err)
    assert f"python -m jobs.ingest {folder.root}" in result.err
    assert f"job {job_id} SUCCEEDED" in result.err
    # The job's own output streamed back: ingest's summary.
    assert f"ingest {folder.root}: " in result.out
    assert "new samples" in result.out
    # It wrote to *our* data root (FLYWHEEL_ROOT travelled in the runtime env).
    samples = Lake(Settings.from_env(root=root, environ={})).read("samples", columns=["sample_id"])
    assert samples.num_rows > 0
    assert re.search(rf"new samples\s+{samples.num_rows}\b", result.out)

    listed = run_cli(capfd, "jobs", "list", "--address", head_env.address)
    assert listed.code == 0, listed.err
    line = next(x for x in listed.out.splitlines() if x.startswith(job_id))
    assert "SUCCEEDED" in line and "python -m jobs.ingest" in line

    logs = run_cli(capfd, "jobs", "logs", job_id, "--address", head_env.address)
    assert logs.code == 0 and "new samples" in logs.out


def test_a_failing_job_exits_with_the_drivers_code(
    head_env: RayHead, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = str(tmp_path / "root")
    from flywheel.config import Settings
    from flywheel.lake import Lake

    Lake(Settings.from_env(root=Path(root), environ={})).table("samples")  # a lake, empty
    result = run_cli(
        capfd, "--root", root, "submit", "--address", head_env.address, "sql", "select nope"
    )
    assert result.code == 2, result.err  # QueryError's code, from the driver on the head
    assert "Referenced column" in result.out  # the job's own error line, streamed back
    assert re.search(r"flywheel: error: job \S+ FAILED: .* exit code 2$", result.err.strip())


def test_no_wait_prints_the_id_and_jobs_stop_stops_it(
    head_env: RayHead, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a = ("--address", head_env.address)
    root = str(tmp_path / "root")
    submitted = run_cli(capfd, "--root", root, "submit", "--no-wait", "sql", "select 1", *a)
    assert submitted.code == 0, submitted.err
    job_id = submitted.out.strip()
    assert job_id == _job_id(submitted.err)

    stopped = run_cli(capfd, "jobs", "stop", job_id, *a)
    assert stopped.code == 0, stopped.err
    assert stopped.out.strip() in (
        f"asked job {job_id} to stop",
        f"job {job_id} had already ended (SUCCEEDED)",
    )
    followed = run_cli(capfd, "jobs", "logs", "--follow", job_id, *a)
    if "asked" in stopped.out:
        assert followed.code == 1 and f"error: job {job_id} STOPPED" in followed.err


def test_an_unknown_job_id_is_one_line(
    head_env: RayHead, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capfd, "jobs", "logs", "raysubmit_nope", "--address", head_env.address)
    assert result.code == 2
    assert result.err == (
        f"flywheel: error: no job 'raysubmit_nope' at {head_env.address} "
        "(flywheel jobs list shows them)\n"
    )


# --- reliability: fail in seconds, with one line ------------------------------------


def _one_error_line(result_err: str) -> str:
    lines = result_err.strip().splitlines()
    assert len(lines) == 1, result_err
    assert lines[0].startswith("flywheel: error: ")
    return lines[0]


def test_a_head_that_is_down_fails_in_seconds_with_one_line(
    cli_env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli(capfd, "submit", "sql", "select 1", "--address", down)
    assert result.code == 3
    assert result.seconds < FAIL_FAST_S
    assert _one_error_line(result.err) == (
        f"flywheel: error: cannot reach the Ray Jobs API at {down} (connection refused); "
        "is the head running and is this its dashboard address?"
    )
    listed = run_cli(capfd, "jobs", "list", "--address", down)
    assert listed.code == 3 and listed.seconds < FAIL_FAST_S
    _one_error_line(listed.err)


def test_a_wrong_token_fails_in_seconds_with_one_line(
    head_env: RayHead, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(
        capfd, "submit", "sql", "select 1", "--address", head_env.address, "--token", "wrong"
    )
    assert result.code == 3
    assert result.seconds < FAIL_FAST_S
    assert _one_error_line(result.err) == (
        f"flywheel: error: the Ray cluster at {head_env.address} rejected the token from "
        "--token; use the head's token (ray get-auth-token on the head prints it)"
    )


def test_a_wrong_token_file_names_the_file(
    head_env: RayHead,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("0" * 64)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    result = run_cli(capfd, "jobs", "list", "--address", head_env.address)
    assert result.code == 3 and result.seconds < FAIL_FAST_S
    assert f"rejected the token from RAY_AUTH_TOKEN_PATH ({tmp_path / 'token'})" in _one_error_line(
        result.err
    )


def test_a_missing_token_fails_in_seconds_with_one_line(
    ray_head: RayHead, cli_env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # cli_env's HOME has no ~/.ray/auth_token
    result = run_cli(capfd, "submit", "sql", "select 1", "--address", ray_head.address)
    assert result.code == 3
    assert result.seconds < FAIL_FAST_S
    assert "wants a token and none was found" in _one_error_line(result.err)


def test_the_token_in_the_environment_is_used(
    ray_head: RayHead,
    cli_env: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN", ray_head.token)
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", ray_head.address)  # what `ray start` suggests
    result = run_cli(capfd, "jobs", "list")
    assert result.code == 0, result.err
    assert result.out.startswith("JOB ID")
