"""Time and memory of the batch-aware strategies on a large synthetic pool.

    python benchmarks/bench_selection.py              # 1,000,000 x 128 float32, pick 1,000
    python benchmarks/bench_selection.py --n 100000   # smaller
    python benchmarks/bench_selection.py --kind clusters   # 50 clusters, like real embeddings

Each strategy runs in a fresh process. "RSS before" is that process after building the
pool (interpreter, libraries and inputs: embeddings, probabilities, sample ids); "peak
RSS" is the high-water mark during ``select`` alone, so their difference is what the
strategy allocates (Linux: VmHWM, reset through /proc/self/clear_refs). "CPU" is the
process's CPU time over all BLAS threads: steadier than wall time on a busy machine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from typing import Any

import numpy as np

from flywheel.strategies import Pool, get_strategy

STRATEGIES = ("kcenter", "badge")


def rss_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_pool(n: int, dim: int, classes: int, seed: int, kind: str = "gaussian") -> Pool:
    """``gaussian``: isotropic noise (every point about as far from every other);
    ``clusters``: 50 well-separated clusters, as real embeddings of a trained model are,
    where one pick lowers the distances of its whole neighbourhood."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, dim), dtype=np.float32)  # (N, D)
    logits = 3 * rng.standard_normal((n, classes), dtype=np.float32)  # (N, C)
    if kind == "clusters":
        group = rng.integers(50, size=n)  # (N,)
        embeddings += 4 * rng.standard_normal((50, dim), dtype=np.float32)[group]
        logits[np.arange(n), group % classes] += 3
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    ids = np.array([f"{i:016x}" for i in range(n)], dtype=object)
    return Pool(sample_ids=ids, probs=probs, embeddings=embeddings)


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    pool = make_pool(args.n, args.dim, args.classes, args.seed, args.kind)
    built = time.perf_counter() - start
    inputs = rss_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM, so the peak below is the selection's own
    start, cpu_start = time.perf_counter(), time.process_time()
    sel = get_strategy(name).select(pool, args.budget, rng=args.seed)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert len(np.unique(sel.indices)) == args.budget
    peak = rss_mib("VmHWM")
    return {
        "strategy": name,
        "build_s": built,
        "select_s": seconds,
        "cpu_s": cpu,
        "peak": peak,
        "inputs": inputs,
    }


def _child(name: str, args: argparse.Namespace, queue: Any) -> None:
    queue.put(run_one(name, args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="pool size N")
    parser.add_argument("--dim", type=int, default=128, help="embedding width D")
    parser.add_argument("--classes", type=int, default=10, help="classes C (BADGE)")
    parser.add_argument("--budget", type=int, default=1_000, help="picks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=("gaussian", "clusters"), default="gaussian")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    rows = []
    for name in args.strategies:
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(name, args, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
    print(
        f"N={args.n:,} D={args.dim} C={args.classes} budget={args.budget:,} {args.kind}; "
        f"{platform.processor() or platform.machine()}, {mp.cpu_count()} CPUs\n"
    )
    print(
        "| strategy | build pool (s) | select (s) | ms / pick | CPU (s) | peak RSS (MiB) | RSS before (MiB) | extra (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per_pick = 1000 * r["select_s"] / args.budget
        print(
            f"| {r['strategy']} | {r['build_s']:.1f} | {r['select_s']:.1f} | {per_pick:.1f} | {r['cpu_s']:.1f} "
            f"| {r['peak']:.0f} | {r['inputs']:.0f} | {r['peak'] - r['inputs']:.0f} |"
        )


if __name__ == "__main__":
    main()
