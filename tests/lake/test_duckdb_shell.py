"""The README's plain DuckDB shell: `flywheel duckdb-init > lake.sql && duckdb -init lake.sql`.

The script names its extensions (no path into the venv), so it runs from any DuckDB of
the pinned version; here both processes get a fresh HOME, so the extensions the shell
loads are the ones `duckdb-init` put in DuckDB's own extension folder, with no download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import flywheel
from flywheel.config import Settings
from flywheel.lake.schema import TABLE_SCHEMAS


def test_plain_duckdb_shell_sees_the_same_tables(filled_root: Path, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    init = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "--root", str(filled_root), "duckdb-init"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    assert str(Path(sys.prefix)) not in init.stdout and ".duckdb_extension" not in init.stdout
    assert "INSTALL iceberg;" in init.stdout and "LOAD iceberg;" in init.stdout
    views = [ln for ln in init.stdout.splitlines() if ln.startswith("CREATE OR REPLACE VIEW")]
    assert len(views) == len(TABLE_SCHEMAS)  # empty tables too
    script = tmp_path / "lake.sql"
    script.write_text(init.stdout)
    duckdb_cli = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    assert duckdb_cli, "the duckdb CLI (PyPI duckdb-cli) is installed with flywheel"

    def shell(query: str) -> list[list[str]]:
        proc = subprocess.run(
            [duckdb_cli, "-csv", "-init", str(script), "-c", query],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        return [line.split(",") for line in proc.stdout.strip().splitlines()[1:]]

    query = "select weak_label, count(*) as n from samples group by 1 order by 1"
    rows = shell(query)
    from_shell = {(None if label == "NULL" else label): int(n) for label, n in rows}
    ours = flywheel.sql(query, Settings.from_env(root=filled_root, environ={})).to_pylist()
    assert from_shell == {r["weak_label"]: r["n"] for r in ours}
    assert shell("select count(*) from feedback") == [["0"]]  # a table with no rows yet
