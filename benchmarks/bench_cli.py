"""Start-up time of the command line, against the interpreter and click alone.

    python benchmarks/bench_cli.py [--repeats 7]

Each command runs in a fresh process; the figure is the median wall time of
``--repeats`` runs, interleaved so that load on the machine falls on every command
alike. Ratios are to ``python -c "import click"`` measured in the same run: what the
CLI adds on top of the library it is built on. ``flywheel VERB --help`` imports that
verb's module, so it shows what a verb costs before it does anything.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import click'": ["-c", "import click"],
    "flywheel --version": ["-m", "flywheel.cli", "--version"],
    "flywheel --help": ["-m", "flywheel.cli", "--help"],
    "flywheel tables --help": ["-m", "flywheel.cli", "tables", "--help"],
    "flywheel sql --help": ["-m", "flywheel.cli", "sql", "--help"],
    "flywheel models --help": ["-m", "flywheel.cli", "models", "--help"],
    "flywheel status --help": ["-m", "flywheel.cli", "status", "--help"],
    "flywheel train --help": ["-m", "flywheel.cli", "train", "--help"],
}


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            times[name].append(wall(argv))
    base = statistics.median(times["python -c 'import click'"])
    rows = {name: statistics.median(t) for name, t in times.items()}
    print(f"{'command':28s} {'median s':>9s} {'x click':>8s}")
    for name, median in rows.items():
        print(f"{name:28s} {median:9.3f} {median / base:8.2f}")
    print(json.dumps({"median_s": rows, "repeats": args.repeats}))


if __name__ == "__main__":
    main()
