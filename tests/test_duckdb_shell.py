"""The README's plain DuckDB shell: `flywheel duckdb-init > lake.sql && duckdb -init lake.sql`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import flywheel
from flywheel.config import Settings


def test_plain_duckdb_shell_sees_the_same_tables(filled_root: Path, tmp_path: Path) -> None:
    init = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "--root", str(filled_root), "duckdb-init"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    script = tmp_path / "lake.sql"
    script.write_text(init.stdout)
    duckdb_cli = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    assert duckdb_cli, "the duckdb CLI (PyPI duckdb-cli) is installed with flywheel"
    query = "select weak_label, count(*) as n from samples group by 1 order by 1"
    shell = subprocess.run(
        [duckdb_cli, "-csv", "-init", str(script), "-c", query],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr
    rows = [line.split(",") for line in shell.stdout.strip().splitlines()[1:]]
    from_shell = {(None if label == "NULL" else label): int(n) for label, n in rows}
    ours = flywheel.sql(query, Settings.from_env(root=filled_root, environ={})).to_pylist()
    assert from_shell == {r["weak_label"]: r["n"] for r in ours}
