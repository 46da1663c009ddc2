"""The README's main job on the embedded defaults: real data in, a queryable lake out.

    python -m jobs.demo [--root DIR]

Writes scikit-learn's handwritten digits as PNG files with hashtags (plus the faults
real feeds have: corrupt, truncated, too small, mislabelled, duplicated, misnamed),
ingests them on a local Ray cluster, ingests them again to show nothing is added
twice, and answers a few questions with DuckDB SQL.
"""

from __future__ import annotations

import argparse
import sys
import time

from flywheel.config import Settings
from flywheel.errors import FlywheelError
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake, sql
from flywheel.lake.cli import format_table
from flywheel.sample_data import write_digits_folder

QUERIES = {
    "Samples per weak label": (
        "select coalesce(weak_label, '(none)') as weak_label, count(*) as samples "
        "from samples group by 1 order by 1"
    ),
    "How the weak labels were decided": (
        "select split_part(coalesce(weak_label_rule, 'untagged:'), ':', 1) as rule, "
        "count(*) as samples from samples group by 1 order by 2 desc"
    ),
    "Quarantined inputs": "select reason, source_ref, detail from quarantine order by reason",
    "Type/extension mismatches kept": (
        "select source_ref, mime, source_path from samples where mime_mismatch"
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data root (default ./flywheel-data)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        settings = Settings.from_env(root=args.root)
        folder = write_digits_folder(settings.root / "demo-source", seed=0)
        print(f"wrote {folder.n_files} digit images with hashtags to {folder.root}")
        config = IngestConfig(source=str(folder.root), taxonomy=folder.taxonomy)
        for attempt in ("first run", "second run (adds nothing)"):
            print(f"\n== ingest, {attempt}")
            print("\n".join(ingest(settings, config).lines()))
        for title, query in QUERIES.items():
            print(f"\n== {title}\n{format_table(sql(query, settings), 20)}")
        total = Lake(settings).read("samples", columns=["sample_id"]).num_rows
    except FlywheelError as err:
        print(f"flywheel: error: {err}", file=sys.stderr)
        return err.exit_code
    print(
        f"\ndemo done in {time.monotonic() - started:.0f}s: {total} samples in {settings.root}; "
        f'try: .venv/bin/flywheel --root {settings.root} sql "select * from samples limit 5"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
