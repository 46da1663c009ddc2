"""Scale benchmark (issue 9): every step of the flywheel at several pool sizes N, as the
real CLI in its own process, next to plain-library baselines on the same files.

    nice .venv/bin/python benchmarks/bench_scale.py --n 1000,2500 --out scale.json \
        --plot docs/img/scale-memory.png
    nice .venv/bin/python benchmarks/bench_scale.py --n 10000,50000,200000   # quiet machine

Data: Fashion-MNIST articles as 224x224 JPEGs over per-file random textures, with
hashtags (``flywheel.bench.photos``), generated once for the largest N; each N ingests
a manifest naming its first N files into a fresh data root. Steps, each
``python -m flywheel.cli --root ROOT ...``: ``ingest``, ``train --epochs 1``,
``score --mc-passes 0``, ``select --strategy kcenter --budget 1000`` and, after N
decided answers are put in a queue through the queue's own store functions (create,
enqueue, lease, submit; not timed), ``export-labels``. Baselines
(benchmarks/scale_baselines.py, own process each): pyarrow read + table + Parquet write
for ingest, a plain PyTorch DataLoader loop for one training epoch and for scoring.

Per command: wall seconds (process start to exit, Ray startup included), samples/s
(N / seconds) and the peak of the summed PSS of its process tree, sampled every 0.2 s
(``flywheel.bench.pss``). Ratio = step samples/s / baseline samples/s.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's flywheel, not an installed one

from flywheel.bench.machine import machine  # noqa: E402
from flywheel.bench.photos import (  # noqa: E402
    PhotoFolder,
    load_photo_folder,
    write_manifest_subset,
    write_photo_folder,
)
from flywheel.bench.pss import Measured, run_measured  # noqa: E402

BASELINES = REPO / "benchmarks" / "scale_baselines.py"
STEPS = ("ingest", "train", "score", "select", "export")
BASELINE_OF = {"ingest": "ingest", "train": "train", "score": "score"}
GOALS = {"ingest": 0.5, "train": 0.8, "score": 0.8}  # minimum ratio to the baseline
MEMORY_GOAL = 1.3  # peak at the largest N / peak at the smallest N, at most
SELECT_BUDGET = 1000


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_"))}
    return env | {"PYTHONPATH": str(REPO)}


def _cli(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "flywheel.cli", "--root", str(root), *args]


def _step_args(step: str, folder: PhotoFolder, manifest: Path) -> list[str]:
    return {
        "ingest": ["ingest", str(manifest), "--taxonomy", str(folder.taxonomy)],
        "train": ["train", "--epochs", "1"],
        "score": ["score", "--mc-passes", "0"],
        "select": ["select", "--strategy", "kcenter", "--budget", str(SELECT_BUDGET)],
        "export": ["export-labels"],
    }[step]


def _run(cmd: list[str], log: Path, timeout: float) -> Measured:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
    got = run_measured(cmd, cwd=REPO, env=_env(), log=log, timeout=timeout)
    if got.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        click.echo(f"  exit {got.returncode}: {' '.join(cmd[3:6])}\n    " + "\n    ".join(tail))
    return got


def fill_queue(root: Path, n: int, log: Path) -> float:
    """Put ``n`` decided answers (one per sample, consensus 1) in a new queue through the
    queue's store functions, as the vendor API would; returns the seconds it took."""
    import subprocess

    from flywheel.config import Settings
    from flywheel.queue import answers, leasing, store
    from flywheel.queue.tasks import enqueue

    start = time.perf_counter()
    query = "select sample_id, weak_label from samples"
    found = subprocess.run(
        _cli(root, "sql", query, "--format", "json"),
        cwd=REPO, env=_env(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [(r["sample_id"], r["weak_label"]) for r in json.loads(found)]
    labels = sorted({label for _, label in rows})
    engine = store.open_engine(Settings.from_env(root=root, environ={}).catalog_uri)
    store.create_queue(engine, "bench", labels)
    token = store.add_vendor(engine, "bench", ["bench"])
    enqueue(engine, "bench", [{"sample_id": s} for s, _ in rows])
    truth = dict(rows)
    while True:

        def one_batch(conn: Any) -> int:
            vendor = store.authenticate(conn, token)
            got = leasing.lease(conn, vendor, "bench", leasing.MAX_TASKS_PER_LEASE)
            batch = [
                answers.Answer(t.task_id, "ann-1", truth[t.sample_id], False, f"b/{t.task_id}")
                for t in got.tasks
            ]
            if batch:
                answers.submit(conn, vendor, got.lease_id, batch)
            return len(batch)

        if store.run_transaction(engine, one_batch) == 0:
            break
    engine.dispose()
    with log.open("a") as out:
        out.write(f"queue filled with {len(rows)} answers\n")
    return time.perf_counter() - start


def bench_one(n: int, folder: PhotoFolder, work: Path, timeout: float) -> list[dict[str, Any]]:
    root = work / f"root-{n}"
    shutil.rmtree(root, ignore_errors=True)
    manifest = write_manifest_subset(folder, n)
    log = work / f"log-{n}.txt"
    rows: list[dict[str, Any]] = []
    for step in STEPS:
        extra: dict[str, Any] = {}
        if step == "export":
            extra["queue_fill_seconds"] = round(fill_queue(root, n, log), 2)
        click.echo(f"N={n} {step} ...")
        got = _run(_cli(root, *_step_args(step, folder, manifest)), log, timeout)
        row = _row(n, step, got) | extra
        if step in BASELINE_OF:
            out = work / f"baseline-{n}"
            cmd = [sys.executable, str(BASELINES), BASELINE_OF[step], str(manifest), str(out)]
            base = _run(cmd, log, timeout)
            shutil.rmtree(out, ignore_errors=True)
            row |= {
                "baseline_seconds": round(base.seconds, 2),
                "baseline_peak_mb": round(base.peak_bytes / 1e6, 1),
                "baseline_rc": base.returncode,
                "ratio": round(base.seconds / got.seconds, 3),
            }
        rows.append(row)
        click.echo(f"  {json.dumps(row)}")
    return rows


def _row(n: int, step: str, got: Measured) -> dict[str, Any]:
    return {
        "n": n,
        "step": step,
        "rc": got.returncode,
        "seconds": round(got.seconds, 2),
        "samples_per_s": round(n / got.seconds, 1),
        "peak_mb": round(got.peak_bytes / 1e6, 1),
        "pss_samples": got.samples,
    }


def goals(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each goal of the issue with the measured figure and whether it is met."""
    ns = sorted({r["n"] for r in rows})
    at = {(r["n"], r["step"]): r for r in rows}
    found = []
    for step in STEPS:
        small, large = at.get((ns[0], step)), at.get((ns[-1], step))
        if small and large and small["peak_mb"]:
            growth = large["peak_mb"] / small["peak_mb"]
            found.append({"goal": f"{step}: peak memory N={ns[-1]} / N={ns[0]} <= {MEMORY_GOAL}",
                          "measured": round(growth, 2), "met": growth <= MEMORY_GOAL})  # fmt: skip
        if large and step in GOALS and "ratio" in large:
            found.append({"goal": f"{step}: ratio to baseline at N={ns[-1]} >= {GOALS[step]}",
                          "measured": large["ratio"], "met": large["ratio"] >= GOALS[step]})  # fmt: skip
    return found


def write_results(out: Path, ns: list[int], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write the JSON of the figures so far (with the machine and load now); the goals."""
    met = goals(rows)
    result = {"machine": machine(), "sizes": ns, "rows": rows, "goals": met}
    out.write_text(json.dumps(result, indent=2) + "\n")
    return met


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| N | step | seconds | samples/s | peak MB (tree PSS) | baseline s | baseline peak MB | ratio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fail = "" if r["rc"] == 0 else f" (exit {r['rc']})"
        lines.append(
            f"| {r['n']:,} | {r['step']}{fail} | {r['seconds']:.1f} | {r['samples_per_s']:,.0f} "
            f"| {r['peak_mb']:,.0f} | {r.get('baseline_seconds', '')} "
            f"| {r.get('baseline_peak_mb', '')} | {r.get('ratio', '')} |"
        )
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for step in STEPS:
        mine = sorted((r["n"], r["peak_mb"]) for r in rows if r["step"] == step)
        ax.plot(*zip(*mine, strict=True), marker="o", label=f"flywheel {step}")
    for step in BASELINE_OF:
        base = sorted((r["n"], r["baseline_peak_mb"]) for r in rows if r["step"] == step)
        ax.plot(*zip(*base, strict=True), marker="x", linestyle="--", label=f"baseline {step}")
    ax.set_xscale("log")
    ax.set_xlabel("N (samples)")
    ax.set_ylabel("peak memory, sum of PSS over the process tree (MB)")
    ax.set_title("Peak memory against N, per step")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")


@click.command()
@click.option("--n", "sizes", default="10000,50000,200000", show_default=True,
              help="Pool sizes, comma-separated.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("scale.json"))
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("scale-memory.png"))  # fmt: skip
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the photos and data roots, kept; photos already there are reused "
              "(default: a temporary folder, removed).")  # fmt: skip
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds per command.")
@click.option("--seed", default=0, show_default=True)
def main(
    sizes: str, out: Path, plot_path: Path, work: Path | None, timeout: float, seed: int
) -> None:
    ns = sorted({int(s) for s in sizes.split(",") if s.strip()})
    if not ns or ns[0] < SELECT_BUDGET:
        raise click.BadParameter(f"every N must be at least the select budget {SELECT_BUDGET}")
    from flywheel.datasets import load_dataset

    keep = work is not None
    base = work if work is not None else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        data = load_dataset("fashion-mnist")
        articles = (data.x[:, 0] * 255).round().astype("uint8")
        start = time.perf_counter()
        folder = load_photo_folder(base / "photos", data.class_names, ns[-1]) or write_photo_folder(
            base / "photos", articles, data.y, data.class_names, ns[-1], seed
        )
        made = time.perf_counter() - start
        click.echo(f"{ns[-1]:,} photos ready in {made:.0f} s (written, or reused from --work)")
        del data, articles
        rows: list[dict[str, Any]] = []
        for n in ns:  # the JSON is rewritten after each N: a stopped run keeps what it did
            rows += bench_one(n, folder, base, timeout)
            met = write_results(out, ns, rows)
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    plot(rows, plot_path)
    click.echo(markdown(rows))
    for g in met:
        click.echo(f"{'met ' if g['met'] else 'MISS'} {g['goal']}: {g['measured']}")
    click.echo(f"machine: {machine()}")


if __name__ == "__main__":
    main()
