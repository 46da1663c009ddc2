"""What a submitted job carries: the entrypoint ``python -m jobs.<verb> ...``, the source
checkout as Ray's ``working_dir`` and the data-root settings as ``env_vars``.

The job on the cluster then builds the same ``Settings`` that this process holds.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import flywheel
from flywheel.config import Settings
from flywheel.errors import ConfigError

# Never uploaded (gitignore patterns, relative to the checkout). Ray also honours
# .gitignore, but a tarball or a fresh copy may have none, and these are gigabytes.
WORKING_DIR_EXCLUDES = (
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "node_modules",
    "/flywheel-data",
    "/artifacts",
    "/bench-out",
)

# Carried verbatim when set here, so the job resolves S3 exactly as this process does.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


def find_checkout() -> Path:
    """The source checkout holding ``flywheel/`` and ``jobs/`` (an editable install)."""
    root = Path(flywheel.__file__).resolve().parent.parent
    if not (root / "jobs" / "__init__.py").is_file():
        raise ConfigError(
            f"flywheel submit needs the source checkout (no jobs/ beside {root / 'flywheel'}); "
            "install flywheel with pip install -e from a clone"
        )
    return root


def job_module(verb: str) -> str:
    """``export-labels`` -> ``jobs.export_labels``."""
    return "jobs." + verb.replace("-", "_")


def submittable_verbs(checkout: Path, commands: Iterable[str]) -> list[str]:
    """The CLI verbs that have a job module in ``checkout/jobs``."""
    return sorted(
        v for v in commands if (checkout / (job_module(v).replace(".", "/") + ".py")).is_file()
    )


def entrypoint(verb: str, args: Iterable[str]) -> str:
    """The shell command Ray runs on the head.

    >>> entrypoint("sql", ["select 1", "--format", "csv"])
    "python -m jobs.sql 'select 1' --format csv"
    """
    return shlex.join(["python", "-m", job_module(verb), *args])


def runtime_env(settings: Settings, checkout: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """Ray's runtime_env for a flywheel job: the checkout and the data-root settings."""
    excludes = list(WORKING_DIR_EXCLUDES)
    if settings.root.is_relative_to(checkout) and settings.root != checkout:
        excludes.append("/" + settings.root.relative_to(checkout).as_posix())
    env_vars = {
        "FLYWHEEL_ROOT": str(settings.root),  # absolute: the job's cwd is Ray's copy
        "FLYWHEEL_CATALOG_URI": settings.catalog_uri,
        "FLYWHEEL_WAREHOUSE": settings.warehouse,
    }
    env_vars.update({k: environ[k] for k in AWS_VARIABLES if environ.get(k)})
    return {"working_dir": str(checkout), "excludes": excludes, "env_vars": env_vars}
