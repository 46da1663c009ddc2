"""What a submitted job carries, which verbs can be submitted, and the local fallback."""

from __future__ import annotations

import ast
import importlib
import shlex
from pathlib import Path

import pytest

from flywheel.cli import cli
from flywheel.config import Settings
from flywheel.lake import Lake
from flywheel.submit import entrypoint, find_checkout, runtime_env
from flywheel.submit.package import job_module, submittable_verbs
from tests.submit.conftest import run_cli

CHECKOUT = find_checkout()


def wrapped_verb(module_path: Path) -> str | None:
    """The verb a thin job module hands to ``flywheel.cli.main([VERB, *argv])``."""
    for node in ast.walk(ast.parse(module_path.read_text())):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "main"
            and node.args
            and isinstance(node.args[0], ast.List)
            and isinstance(node.args[0].elts[0], ast.Constant)
        ):
            return str(node.args[0].elts[0].value)
    return None


def test_every_step_of_the_loop_has_a_job_module() -> None:
    for verb in ("ingest", "score", "select", "export-labels", "train", "loop", "sql"):
        path = CHECKOUT / (job_module(verb).replace(".", "/") + ".py")
        assert path.is_file(), path
        assert wrapped_verb(path) == verb, f"{path} does not run `flywheel {verb}`"
        importlib.import_module(job_module(verb))  # importable, and runs nothing on import


def test_submittable_verbs_are_registered_commands_with_a_job_module() -> None:
    verbs = submittable_verbs(CHECKOUT, cli.commands)
    assert {"ingest", "sql", "score", "select", "train", "export-labels"} <= set(verbs)
    # The README's main job is a verb too: scripts/demo and `flywheel submit demo` run it.
    assert "demo" in verbs and wrapped_verb(CHECKOUT / "jobs" / "demo.py") == "demo"


def test_entrypoint_quotes_arguments_for_the_shell() -> None:
    command = entrypoint("sql", ["select 'a b'; drop", "--format", "csv"])
    assert shlex.split(command) == [
        "python",
        "-m",
        "jobs.sql",
        "select 'a b'; drop",
        "--format",
        "csv",
    ]
    assert entrypoint("export-labels", []) == "python -m jobs.export_labels"


def test_runtime_env_carries_the_data_root_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(root=tmp_path / "root", environ={})
    environ = {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "", "HOME": "/x", "OTHER": "1"}
    env = runtime_env(settings, CHECKOUT, environ)

    assert env["working_dir"] == str(CHECKOUT)
    assert env["env_vars"] == {
        "FLYWHEEL_ROOT": str(tmp_path / "root"),
        "FLYWHEEL_CATALOG_URI": settings.catalog_uri,
        "FLYWHEEL_WAREHOUSE": settings.warehouse,
        "AWS_REGION": "eu-west-1",  # set ones only: an empty one is not set
    }
    assert Path(env["env_vars"]["FLYWHEEL_ROOT"]).is_absolute()
    for heavy in (".venv", ".git", "/flywheel-data", "/artifacts", "__pycache__"):
        assert heavy in env["excludes"]


def test_a_data_root_inside_the_checkout_is_not_uploaded() -> None:
    settings = Settings.from_env(root=CHECKOUT / "my-data", environ={})
    assert "/my-data" in runtime_env(settings, CHECKOUT, {})["excludes"]


def test_an_unknown_verb_lists_the_ones_that_can_be_submitted(cli_env, capfd) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(capfd, "submit", "tables")
    assert result.code == 2
    assert "no job for 'tables'; flywheel submit runs one of: " in result.err
    assert "ingest" in result.err and "sql" in result.err


def test_without_an_address_the_verb_runs_here(cli_env, capfd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    Lake(Settings.from_env(root=root, environ={})).table("samples")  # sql reads a lake
    result = run_cli(capfd, "--root", str(root), "submit", "sql", "select 41 + 1 as answer")
    assert result.code == 0, result.err
    assert "running sql here" in result.err
    assert result.out.split() == ["answer", "------", "42", "(1", "row)"]


def test_without_an_address_a_failing_verb_keeps_its_exit_code(
    cli_env, capfd, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(capfd, "--root", str(tmp_path / "r"), "submit", "sql", "select nope")
    assert result.code == 2
    assert result.err.strip().splitlines()[-1].startswith("flywheel: error: ")


@pytest.mark.parametrize(
    "command", [("jobs", "list"), ("jobs", "logs", "x"), ("jobs", "stop", "x")]
)
def test_jobs_without_an_address_say_how_to_give_one(cli_env, capfd, command) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(capfd, *command)
    assert result.code == 2
    assert result.err.strip() == (
        "flywheel: error: no Ray Jobs API address: pass --address http://HEAD:8265 "
        "or set RAY_API_SERVER_ADDRESS"
    )
