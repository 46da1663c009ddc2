"""Ray job: ``python -m jobs.loop [--min-new-labels N] [--every SECONDS] [--rounds R]``.

The continuous loop (export, retrain, gate, promote, rescore, select); takes the same
arguments as ``flywheel loop``. infra/kuberay/loop/rayjob.yaml runs it on a cluster.
"""

from __future__ import annotations

import sys

from flywheel.cli import main

if __name__ == "__main__":
    sys.exit(main(["loop", *sys.argv[1:]]))
