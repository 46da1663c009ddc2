"""Label efficiency of every labelling strategy: the runs behind docs/benchmarks.md.

    python benchmarks/bench_active_learning.py digits --out al-digits
    python benchmarks/bench_active_learning.py fashion-mnist --out al-fashion

Each preset is one ``flywheel bench active-learning`` command line (printed first);
other flags are passed on and override the preset, e.g. ``--budget 200 --step 10``.
label-errors is not in the list: it picks samples to verify, not to label.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from flywheel.bench.cli import bench
from flywheel.errors import FlywheelError

STRATEGIES = "random,least-confidence,margin,entropy,bald,kcenter,badge"
PRESETS = {
    # All 1,797 digits: 359 held out, a pool of 1,438; the 8x8 net (tiny-cnn).
    "digits": "--budget 300 --step 20 --init 20 --epochs 20 --min-steps 150",
    # 1,000 held out, a pool of 3,000 of the 69,000 others; the 28x28 net (small-cnn).
    "fashion-mnist": "--pool-size 3000 --test-size 1000 --budget 1000 --step 100 --init 100 "
    "--epochs 10 --min-steps 200",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(PRESETS))
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="parallel Ray tasks (CPUs)")
    args, extra = parser.parse_known_args(argv)  # the rest goes to the command, last wins
    command = ["active-learning", "--dataset", args.dataset, "--strategies", STRATEGIES]
    command += shlex.split(PRESETS[args.dataset])
    command += ["--seeds", str(args.seeds), "--workers", str(args.workers), "--out", args.out]
    command += [a for a in extra if a != "--"]
    print("flywheel bench " + shlex.join(command), file=sys.stderr, flush=True)
    try:
        bench.main(command, prog_name="flywheel bench", standalone_mode=False)
    except FlywheelError as err:
        print(f"flywheel: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
