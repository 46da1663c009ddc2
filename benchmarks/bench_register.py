"""The cost of registering a model version, against pyiceberg doing the same read.

    python benchmarks/bench_register.py [--sizes 200 2000] [--repeats 5]

``train`` decides a new row's version and status from a fresh read of ``models`` on
every commit attempt (``flywheel.train.run._register``). Per size N (rows already in
``models``, written in commits of 50 as runs and gates make them), in a fresh process:

- ``register read``: what one attempt reads and decides (``Models.of`` over the head's
  version, status and created_at, ``next_version``, ``decide_status``);
- ``pyiceberg scan``: a plain ``table.scan(selected_fields=...).to_arrow()`` of the same
  three columns, the library alone;
- ``full-row read``: the whole rows, as the first version of this change read them.

Median seconds over ``--repeats``; peak RSS of the process (ru_maxrss; no Ray, so the
process is the whole tree) after the reads, at each N.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

COLUMNS = ["version", "status", "created_at"]


def one_size(n: int, repeats: int) -> dict[str, float]:
    import pyarrow as pa

    from flywheel.config import Settings
    from flywheel.lake import TABLE_SCHEMAS, Lake
    from flywheel.lake.commit import Head
    from flywheel.train.registry import Models

    root = Path(tempfile.mkdtemp(prefix="bench-register-")) / "root"
    lake = Lake(Settings.from_env(root=root, environ={}))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    base = {
        "parent": None, "reason": "trained", "modality": "image", "arch": "small-cnn",
        "class_names": ["a", "b"], "checkpoint_uri": "file:///x/model.pt",
        "snapshot_ids": "{}", "holdout": "{}", "n_train": 1, "n_eval": 1, "accuracy": 0.5,
        "macro_f1": 0.5, "ece": 0.1, "metrics": json.dumps({"per_class": {"a": {"f1": 0.5}}}),
        "train_config": "{}", "run_id": "r",
    }  # fmt: skip
    for start in range(0, n, 50):
        rows = [
            {**base, "version": f"m{i + 1:04d}", "created_at": t0 + timedelta(minutes=i),
             "status": "promoted" if i == 0 else "candidate"}
            for i in range(start, min(n, start + 50))
        ]  # fmt: skip
        lake.commit("models", pa.Table.from_pylist(rows, TABLE_SCHEMAS["models"]), {})

    def register_read() -> None:
        head = Head(lake, "models")
        fresh = Models.of(head.read(COLUMNS), head.snapshot_id)
        fresh.next_version(), fresh.decide_status()

    def pyiceberg_scan() -> None:
        lake.table("models").scan(selected_fields=tuple(COLUMNS)).to_arrow()

    def full_rows() -> None:
        Head(lake, "models").read().to_pylist()

    out: dict[str, float] = {}
    for name, fn in (("register read", register_read), ("pyiceberg scan", pyiceberg_scan),
                     ("full-row read", full_rows)):  # fmt: skip
        times = []
        for _ in range(repeats):
            start_t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start_t)
        out[name] = statistics.median(times)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.repeats)))
        return
    print("| rows in models | register read s | pyiceberg scan s | × pyiceberg | "
          "full-row read s | peak RSS MB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--repeats", str(args.repeats)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        ratio = r["register read"] / r["pyiceberg scan"]
        print(f"| {n} | {r['register read']:.3f} | {r['pyiceberg scan']:.3f} | {ratio:.2f} | "
              f"{r['full-row read']:.3f} | {r['peak_rss_mb']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
