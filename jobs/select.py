"""Ray job: ``python -m jobs.select --strategy NAME --budget N [--queue Q] ...``.

Takes the same arguments as ``flywheel select``; the data root and storage settings
come from the environment (FLYWHEEL_ROOT, FLYWHEEL_CATALOG_URI, FLYWHEEL_WAREHOUSE,
AWS_*), which ``flywheel submit`` carries in the job's runtime env.
"""

from __future__ import annotations

import sys

from flywheel.cli import main

if __name__ == "__main__":
    sys.exit(main(["select", *sys.argv[1:]]))
