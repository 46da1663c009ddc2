"""Ray job: ``python -m jobs.sql "QUERY" [--format table|csv|json]``."""

from __future__ import annotations

import sys

from flywheel.cli import main

if __name__ == "__main__":
    sys.exit(main(["sql", *sys.argv[1:]]))
