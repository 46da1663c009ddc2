"""Does the split-cluster report find a weak class made of two real ones, and leave the
honest classes alone? And does the audio check keep noisy whole words and catch cut ones?

    nice python benchmarks/bench_split_clusters.py                    # all, small
    nice python benchmarks/bench_split_clusters.py --pairs 45 --per-class 150
    nice python benchmarks/bench_split_clusters.py --audio-only

For each data set (scikit-learn digits, Fashion-MNIST from Debian's
dataset-fashion-mnist, spoken keywords from espeak-ng) and each sampled pair of classes:
merge the pair into one weak class, everything else honest; train the modality's default
network on those labels (in-process, the project's network and input spec, AdamW);
embed every sample; run ``find_split_clusters`` with the model's embedding and the
label-free view (``flywheel.reports.views``). Count the merged class flagged, and every
honest class flagged. Pairs and samples per class are subsampled to keep the run to
minutes on a shared 2-core machine; the output says how many.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import time
from dataclasses import dataclass

import numpy as np
import torch

from flywheel.modalities import get_modality
from flywheel.reports.clusters import find_split_clusters
from flywheel.reports.views import label_free_features


@dataclass
class Data:
    name: str
    modality: str
    arch: str
    media: list[bytes]
    y: np.ndarray  # (N,) int
    class_names: tuple[str, ...]


def _png(chw: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((chw[0] * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def image_data(name: str, per_class: int, seed: int) -> Data:
    from flywheel.datasets import load_dataset

    images = load_dataset(name)
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(images.y == c))[:per_class]
                           for c in range(len(images.class_names))])  # fmt: skip
    arch = "tiny-cnn" if images.x.shape[-1] == 8 else "small-cnn"
    media = [_png(images.x[i]) for i in keep]
    return Data(name, "image", arch, media, images.y[keep], images.class_names)


def keyword_data(per_class: int, seed: int) -> Data:
    from flywheel.keywords import KEYWORDS, keyword_clips
    from flywheel.sample_data import wav_bytes

    rng = np.random.default_rng(seed)
    media, y = [], []
    snrs = (None, 40, 30, 20, 15, 10)
    for clip in keyword_clips(KEYWORDS, per_class, (None,), seed=seed):
        snr = snrs[int(rng.integers(len(snrs)))]
        if snr is not None:  # the same word under room noise at a random SNR
            from flywheel.keywords import room_noise

            power = float(np.mean(clip.audio**2)) * 10 ** (-snr / 10)
            audio = clip.audio + room_noise(len(clip.audio), rng) * np.float32(np.sqrt(power))
        else:
            audio = clip.audio
        media.append(wav_bytes(np.clip(audio, -1, 1), 22050))
        y.append(KEYWORDS.index(clip.word))
    return Data("spoken keywords", "audio", "speech-cnn", media, np.array(y), KEYWORDS)


def train_embed(data: Data, x: torch.Tensor, labels: np.ndarray, epochs: int) -> np.ndarray:
    """A fresh network trained on ``labels`` (N,) ints; the penultimate embedding (N, D)."""
    torch.manual_seed(0)
    n_classes = int(labels.max()) + 1
    net = get_modality(data.modality).build_model(n_classes, arch=data.arch)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    target = torch.from_numpy(labels).long()
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        net.train()
        for batch in np.array_split(rng.permutation(len(x)), max(1, len(x) // 32)):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[batch]), target[batch])
            loss.backward()
            opt.step()
    net.eval()
    with torch.inference_mode():
        return np.concatenate([net.embed(x[i : i + 256]).numpy() for i in range(0, len(x), 256)])


def bench_data(data: Data, n_pairs: int, epochs: int, seed: int) -> dict[str, object]:
    modality = get_modality(data.modality)
    spec = modality.input_spec(data.arch)
    x = modality.collate(data.media, spec)  # (N, C, H, W)
    view_name = "imagenet" if data.modality == "image" else "log-mel"
    views = {view_name: label_free_features(data.modality, data.media)}
    pairs = list(itertools.combinations(range(len(data.class_names)), 2))
    pick = np.random.default_rng(seed).permutation(len(pairs))[:n_pairs]
    merged_z: dict[str, float] = {}  # pair -> the merged class's largest z over views
    honest_z: list[float] = []
    honest_high: dict[str, float] = {}  # "pair: class" -> z, for honest classes at z >= 4
    by_view: dict[str, int] = {}
    for a, b in sorted(pairs[i] for i in pick):
        merged = np.where(data.y == b, a, data.y)
        dense = np.unique(merged, return_inverse=True)[1]  # (N,) in 0..C-2
        names = np.array([data.class_names[c] for c in merged], dtype=object)
        names[merged == a] = "merged"
        emb = train_embed(data, x, dense, epochs)
        ids = np.arange(len(names)).astype(str)
        for split in find_split_clusters(emb, names, ids, views=views):
            z = max(e.z for e in split.evidence) if split.evidence else float("nan")
            if split.class_name == "merged":
                merged_z[f"{data.class_names[a]}+{data.class_names[b]}"] = z
                if split.split and split.split_by:
                    by_view[split.split_by] = by_view.get(split.split_by, 0) + 1
            else:
                honest_z.append(z)
                if z >= 4:
                    pair = f"{data.class_names[a]}+{data.class_names[b]}"
                    honest_high[f"{pair}: {split.class_name}"] = round(z, 1)
    rates = {
        f"z>={t:g}": {
            "merged_flagged": float(np.mean([z >= t for z in merged_z.values()])),
            "honest_flagged": float(np.mean([z >= t for z in honest_z])),
            "missed": [p for p, z in merged_z.items() if z < t],
        }
        for t in (3.0, 4.0, 4.5, 5.0, 5.5, 6.0)
    }
    return {"data": data.name, "samples": len(data.y), "pairs": len(pick),
            "of_pairs": len(pairs), "honest_tests": len(honest_z), "rates": rates,
            "flagged_by_at_default": by_view,
            "merged_z": {p: round(z, 1) for p, z in merged_z.items()},
            "honest_z_at_least_4": honest_high}  # fmt: skip


def audio_checks(n_voices: int, seed: int) -> list[dict[str, float | int | None]]:
    """Keep rate of whole words and catch rate of cut ones, per SNR, default checks."""
    from flywheel.keywords import KEYWORDS, RATE, keyword_clips
    from flywheel.modalities.audio_checks import AudioChecks, find_fault, frame_levels_dbfs

    rows = []
    for snr in (None, 40, 30, 20, 15, 10):
        clips = keyword_clips(KEYWORDS, n_voices, (snr,), seed, cuts=(None, "start", "end"))
        faults = [(c.cut, find_fault(frame_levels_dbfs(c.audio, RATE), AudioChecks()))
                  for c in clips]  # fmt: skip
        whole = [f for cut, f in faults if cut is None]
        cut = [f for c, f in faults if c is not None]
        rows.append({"snr_db": snr, "whole": len(whole), "cut": len(cut),
                     "keep": sum(f is None for f in whole) / len(whole),
                     "catch": sum(f is not None and f[0] == "cut_off" for f in cut) / len(cut)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10, help="merged pairs per data set")
    parser.add_argument("--per-class", type=int, default=60, help="images per class")
    parser.add_argument("--voices", type=int, default=20, help="keyword clips per word")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="digits,fashion-mnist,keywords")
    parser.add_argument("--audio-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    out: dict[str, object] = {"audio_checks": audio_checks(6, args.seed)}
    print(json.dumps(out["audio_checks"]), flush=True)
    results = []
    for name in [] if args.audio_only else args.data.split(","):
        data = (keyword_data(args.voices, args.seed) if name == "keywords"
                else image_data(name, args.per_class, args.seed))  # fmt: skip
        results.append(bench_data(data, args.pairs, args.epochs, args.seed))
        print(json.dumps(results[-1]), flush=True)
    out["splits"] = results
    out["seconds"] = round(time.monotonic() - started)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
