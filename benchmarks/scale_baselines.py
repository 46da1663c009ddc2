"""Plain-library baselines for bench_scale.py, each run in its own process so its peak
memory is measured the same way as the flywheel command's:

- ``ingest``: read every file with pyarrow's local filesystem, build a table
  (path, size, bytes), write it to Parquet (zstd, as pyiceberg writes).
- ``train``: one epoch of the project's default image network (small-cnn, through
  ``ImageModality.to_tensor``, the same decoding and resizing) over the JPEGs with a
  plain PyTorch DataLoader: AdamW, cross-entropy, batch 32, as ``flywheel train``.
- ``score``: a forward pass (logits, embedding, softmax) over the same JPEGs, batch 256.

Usage: python benchmarks/scale_baselines.py STEP MANIFEST OUT_DIR [--workers N]
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs


def _entries(manifest: Path) -> list[tuple[Path, str]]:
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    return [(manifest.parent / r["path"], r["path"].split("/")[1]) for r in rows]


def ingest(manifest: Path, out: Path) -> None:
    local = fs.LocalFileSystem()
    paths, sizes, data = [], [], []
    for path, _ in _entries(manifest):
        with local.open_input_stream(str(path)) as stream:
            blob = stream.readall()
        paths.append(str(path))
        sizes.append(len(blob))
        data.append(blob)
    table = pa.table({"path": paths, "size": sizes, "media": pa.array(data, pa.large_binary())})
    pq.write_table(table, out / "baseline.parquet", compression="zstd")


def _loader(manifest: Path, batch: int, workers: int, shuffle: bool):
    import torch
    from torch.utils.data import DataLoader, Dataset

    from flywheel.modalities.image import ImageModality

    entries = _entries(manifest)
    names = sorted({label for _, label in entries})
    modality = ImageModality()
    spec = modality.input_spec()

    class Photos(Dataset[tuple[torch.Tensor, int]]):
        def __len__(self) -> int:
            return len(entries)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            path, label = entries[i]
            return modality.to_tensor(path.read_bytes(), spec), names.index(label)

    loader = DataLoader(Photos(), batch_size=batch, shuffle=shuffle, num_workers=workers)
    return loader, modality.build_model(len(names))


def train(manifest: Path, workers: int) -> None:
    import torch

    loader, model = _loader(manifest, 32, workers, shuffle=True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for x, y in loader:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimiser.step()


def score(manifest: Path, workers: int) -> None:
    import torch

    loader, model = _loader(manifest, 256, workers, shuffle=False)
    model.eval()
    with torch.no_grad():
        for x, _ in loader:
            logits, _embedding = model.forward_with_embedding(x)
            torch.softmax(logits, dim=1)


@click.command()
@click.argument("step", type=click.Choice(["ingest", "train", "score"]))
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--workers", default=2, show_default=True, help="DataLoader worker processes.")
def main(step: str, manifest: Path, out: Path, workers: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if step == "ingest":
        ingest(manifest, out)
    elif step == "train":
        train(manifest, workers)
    else:
        score(manifest, workers)


if __name__ == "__main__":
    main()
