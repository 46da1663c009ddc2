"""Where submit finds the Jobs API address and the token (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.errors import ConfigError
from flywheel.submit import JobsTarget, find_token


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
