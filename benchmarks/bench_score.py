"""Scoring throughput: the Ray Data pipeline against a plain PyTorch loop, same model,
same batch size, same machine, in one run.

    python benchmarks/bench_score.py                      # 5,000 MNIST digits, batch 256
    python benchmarks/bench_score.py --n 3000 --batch-size 128 --out score.json

In this one process:

1. the first N MNIST digits (``flywheel.datasets.load_dataset("mnist")``) are written
   as 28x28 grayscale PNGs with a manifest and taxonomy and ingested into a fresh data
   root (SQLite catalog, local warehouse); every sample lands in the pool;
2. an untrained ``small-cnn`` (10 classes) is saved as a checkpoint and registered as
   the promoted model ``m0001`` (no training: throughput does not depend on weights);
3. Ray is started (``flywheel.runtime.ensure_ray``), timed on its own, then
   ``flywheel.score.score`` runs once with ``mc_passes=0``, timed as one call: Iceberg
   read, repartition, the actor pool's decode + forward, the Iceberg write and commit;
4. Ray is shut down and the baseline reads ``sample_id, media`` from the lake (timed
   apart), then in one process decodes + collates each batch with the same modality
   ``collate`` and ``input_spec`` and runs the same model: softmax and embedding to
   NumPy, as the scoring actor does. Only decode + forward is the baseline's time.

ratio = Ray Data samples/s / plain loop samples/s (both over the same N samples).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image

from flywheel.bench.machine import machine
from flywheel.config import Settings
from flywheel.datasets import load_dataset
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import Lake
from flywheel.modalities import get_modality
from flywheel.runtime import ensure_ray
from flywheel.score.run import ScoreConfig, score
from flywheel.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from flywheel.train.registry import model_row

ARCH = "small-cnn"
VERSION = "m0001"


def write_folder(dest: Path, n: int) -> tuple[Path, list[str]]:
    """images/<class>/<index>.png for the first ``n`` MNIST digits, a manifest with one
    class hashtag each, and taxonomy.yaml. Returns (taxonomy path, class names)."""
    data = load_dataset("mnist")
    if not 1 <= n <= len(data):
        raise SystemExit(f"--n must be in 1..{len(data)}, got {n}")
    pixels = (data.x[:n, 0] * 255).round().astype(np.uint8)  # (n, 28, 28)
    lines = []
    for i, (img, label) in enumerate(zip(pixels, data.y[:n], strict=True)):
        name = data.class_names[int(label)]
        rel = f"images/{name}/{i:05d}.png"
        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="PNG")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(buf.getvalue())
        lines.append(json.dumps({"path": rel, "tags": [f"#{name}"], "source_ref": f"mnist-{i}"}))
    (dest / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    taxonomy = dest / "taxonomy.yaml"
    classes = {name: [f"#{name}"] for name in data.class_names}
    taxonomy.write_text(yaml.safe_dump({"classes": classes}, sort_keys=False))
    return taxonomy, list(data.class_names)


def register_model(settings: Settings, class_names: list[str]) -> str:
    """Save an untrained small-cnn checkpoint and commit it as the promoted m0001."""
    torch.manual_seed(0)
    net = get_modality("image").build_model(len(class_names), arch=ARCH)
    ckpt = Checkpoint.for_model(net, "image", ARCH, class_names, model_version=VERSION)
    uri = f"{settings.warehouse.rstrip('/')}/models/{VERSION}/model.pt"
    save_checkpoint(ckpt, uri, settings)
    lake = Lake(settings)
    row = model_row(
        version=VERSION,
        parent=None,
        status="promoted",
        reason="benchmark model (untrained)",
        modality="image",
        arch=ARCH,
        class_names=class_names,
        checkpoint_uri=uri,
        snapshot_ids={"samples": lake.current_snapshot_id("samples"), "models": None},
        holdout={},
        n_train=0,
        metrics={"n": 0, "accuracy": 0.0, "macro_f1": 0.0, "ece": 0.0},
        train_config={},
        run_id=uuid.uuid4().hex,
    )
    lake.commit("models", row, {"flywheel.train.version": VERSION})
    return uri


def time_ray_start(settings: Settings) -> float:
    start = time.perf_counter()
    ensure_ray(settings)
    return time.perf_counter() - start


def time_score(settings: Settings, batch_size: int, n: int) -> dict[str, Any]:
    start = time.perf_counter()
    summary = score(settings, ScoreConfig(batch_size=batch_size, mc_passes=0))
    seconds = time.perf_counter() - start
    if summary.scored != n:
        raise SystemExit(f"score wrote {summary.scored} predictions, expected {n}")
    return {"seconds": seconds, "actors": summary.actors, "scored": summary.scored}


@torch.inference_mode()
def time_baseline(settings: Settings, uri: str, batch_size: int, n: int) -> dict[str, Any]:
    """Read the media from the lake (timed apart), then decode + collate + forward +
    softmax + embedding in batches of ``batch_size``, single process."""
    t0 = time.perf_counter()
    table = Lake(settings).read("samples", columns=["sample_id", "media"])
    media = table.column("media").to_pylist()
    read_s = time.perf_counter() - t0
    if len(media) != n:
        raise SystemExit(f"lake holds {len(media)} samples, expected {n}")
    checkpoint = load_checkpoint(uri, settings)
    modality = get_modality(checkpoint.modality)
    model = checkpoint.model.eval()
    decode_s = forward_s = 0.0
    scored = 0
    for begin in range(0, n, batch_size):
        t1 = time.perf_counter()
        x = modality.collate(media[begin : begin + batch_size], checkpoint.input_spec)
        t2 = time.perf_counter()
        logits, embedding = model.forward_with_embedding(x)  # (B, K), (B, D)
        probs = torch.softmax(logits, dim=1).numpy().astype(np.float32)
        emb = embedding.numpy().astype(np.float32)
        t3 = time.perf_counter()
        decode_s += t2 - t1
        forward_s += t3 - t2
        scored += min(len(probs), len(emb))
    if scored != n:
        raise SystemExit(f"the plain loop scored {scored} samples, expected {n}")
    return {
        "read_s": read_s,
        "decode_s": decode_s,
        "forward_s": forward_s,
        "seconds": decode_s + forward_s,
        "torch_threads": torch.get_num_threads(),
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    (work / "source").mkdir()
    taxonomy, class_names = write_folder(work / "source", args.n)
    settings = Settings.from_env(root=work / "data", environ={})
    t0 = time.perf_counter()
    summary = ingest(settings, IngestConfig(str(work / "source"), taxonomy, progress=False))
    ingest_s = time.perf_counter() - t0
    if summary.new != args.n:
        raise SystemExit(f"ingest did not land every file: {summary.lines()}")
    uri = register_model(settings, class_names)
    import ray

    ray.shutdown()  # ingest started Ray; time a fresh start on its own
    ray_s = time_ray_start(settings)
    ray_cpus = int(ray.cluster_resources().get("CPU", 1))
    scored = time_score(settings, args.batch_size, args.n)
    ray.shutdown()  # the baseline runs without Ray's daemons beside it
    baseline = time_baseline(settings, uri, args.batch_size, args.n)
    n = args.n
    return {
        "n": n,
        "batch_size": args.batch_size,
        "arch": ARCH,
        "ingest_s": ingest_s,
        "ray_start_s": ray_s,
        "ray_cpus": ray_cpus,
        "ray_data": {**scored, "samples_per_s": n / scored["seconds"]},
        "baseline": {**baseline, "samples_per_s": n / baseline["seconds"]},
        "ratio": (n / scored["seconds"]) / (n / baseline["seconds"]),
        "machine": machine(),
    }


def report(fig: dict[str, Any]) -> str:
    m, rd, b = fig["machine"], fig["ray_data"], fig["baseline"]
    return "\n".join(
        [
            f"N={fig['n']:,} MNIST PNGs, {fig['arch']} (untrained), batch {fig['batch_size']}, "
            f"mc_passes=0; {m['cpus']} CPUs ({m['cpu_model']}), "
            f"1-min load avg {m['load_avg_1m']:.1f} at the end",
            "",
            "| step | seconds | samples/s | ratio to plain loop |",
            "|---|---:|---:|---:|",
            f"| Ray start (`ensure_ray`), not in the score time | {fig['ray_start_s']:.2f} | | |",
            f"| Ray Data `score` ({rd['actors']} actor(s) of {fig['ray_cpus']} CPUs): "
            f"read + decode + forward + Iceberg write | {rd['seconds']:.2f} "
            f"| {rd['samples_per_s']:,.0f} | {fig['ratio']:.3f} |",
            f"| plain PyTorch loop ({b['torch_threads']} torch threads): decode + forward "
            f"| {b['seconds']:.2f} | {b['samples_per_s']:,.0f} | 1.000 |",
            f"| ... of which decode + collate | {b['decode_s']:.2f} | | |",
            f"| ... of which forward + softmax + embedding | {b['forward_s']:.2f} | | |",
            f"| plain loop's lake read (not in its time) | {b['read_s']:.2f} | | |",
            "",
            f"Summary: Ray Data {rd['samples_per_s']:,.0f} samples/s vs plain loop "
            f"{b['samples_per_s']:,.0f} samples/s: ratio {fig['ratio']:.3f} (aim >= 0.8).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="images (1..70,000)")
    parser.add_argument("--batch-size", type=int, default=256, help="samples per batch")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        fig = run(args, Path(tmp))
    print(report(fig))
    if args.out is not None:
        args.out.write_text(json.dumps(fig, indent=2) + "\n")


if __name__ == "__main__":
    main()
