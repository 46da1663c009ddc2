"""Ray job: ``python -m jobs.score [--model VERSION] [--num-gpus G] ...``."""

from __future__ import annotations

import sys

from flywheel.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
