"""Across packages, flywheel's modules import what a package exports (``from flywheel.lake
import equal``), never another package's submodule (``from flywheel.lake.filters import
equal``): a package's modules can then move or split without touching its users, and what
one package takes from another is its pinned public surface (tests/test_public_api.py).
The one exception is the owner-only table modules of ``flywheel.db``, which import-linter
keeps private to the queue and the loop."""

from __future__ import annotations

import ast
from pathlib import Path

import flywheel

PACKAGE = Path(flywheel.__file__).parent
OWNER_ONLY = {"flywheel.db.queue_tables", "flywheel.db.loop_tables"}


def _reach_ins(source: str, own: str) -> list[str]:
    """Every ``from flywheel.P.M import ...`` in ``source`` whose P is not ``own``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if (
                parts[0] == "flywheel"
                and len(parts) > 2
                and parts[1] != own
                and node.module not in OWNER_ONLY
            ):
                found.append(f"line {node.lineno}: from {node.module} import ...")
    return found


def test_no_module_reaches_into_another_package() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        offenders += [
            f"{path.relative_to(PACKAGE.parent)} {r}" for r in _reach_ins(path.read_text(), own)
        ]
    assert offenders == []


def test_the_check_sees_a_reach_in_and_allows_its_own_package() -> None:
    code = (
        "from flywheel.lake.filters import equal\n"
        "from flywheel.lake import Lake\n"
        "def f():\n    from flywheel.queue.tasks import open_tasks\n"
        "from flywheel.db.queue_tables import tasks\n"
    )
    assert _reach_ins(code, own="score") == [
        "line 1: from flywheel.lake.filters import ...",
        "line 4: from flywheel.queue.tasks import ...",
    ]
    assert _reach_ins(code, own="lake") == ["line 4: from flywheel.queue.tasks import ..."]
