"""Ray job: ``python -m jobs.export_labels``: copy new answers and labels from the queue
database into the lake, exactly once (``flywheel export-labels``)."""

from __future__ import annotations

import sys

from flywheel.cli import main

if __name__ == "__main__":
    sys.exit(main(["export-labels", *sys.argv[1:]]))
