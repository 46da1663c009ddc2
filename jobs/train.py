"""Ray job: ``python -m jobs.train [--epochs N] [--workers N] [--gpu] [--from VERSION] ...``.

Takes the same arguments as ``flywheel train``; the data root and storage settings
come from the environment (FLYWHEEL_ROOT, FLYWHEEL_CATALOG_URI, FLYWHEEL_WAREHOUSE,
AWS_*), which ``ray job submit --runtime-env-json`` carries to the cluster.
"""

from __future__ import annotations

import sys

from flywheel.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
