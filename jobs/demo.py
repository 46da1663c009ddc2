"""The README's main job: ``python -m jobs.demo [--root DIR] [--rounds R] [--budget N]
[--epochs E] [--modality image|audio] [--fresh]``.

Takes the same arguments as ``flywheel demo`` (flywheel/demo_cli.py); ``scripts/demo``
runs it after setup.
"""

from __future__ import annotations

import sys

from flywheel.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
