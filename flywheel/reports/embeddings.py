"""``flywheel embeddings``: a model's penultimate-layer embeddings, looked at three ways.

    DIR/index.html             2-D projection (PCA, or UMAP when installed), coloured by
                               class, thumbnails on hover
    DIR/split_clusters.html    per class: one group or several well-separated ones
    DIR/split_clusters.json    {"classes": [{"class", "split", "groups": [{"size",
                               "examples"}], "separation", "split_by", "evidence":
                               [{"view", "conductance", "null_median", "z", ...}]}, ...]}
    DIR/tensors.tsv, metadata.tsv, sprite.png, projector_config.pbtxt
                               TensorBoard's Embedding Projector (tensorboard --logdir DIR)

The split analysis uses every scored sample with a class, in the model's embedding and
in a view of the media the labels did not shape (``flywheel.reports.views``); the scatter and the projector
show at most ``max_points`` of them, drawn at random (seeded).
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image
from tqdm import tqdm

from flywheel.config import Settings
from flywheel.errors import ConfigError, NotFoundError, StorageError
from flywheel.lake import Lake, among
from flywheel.reports import lakeview
from flywheel.reports.clusters import ClassSplit, SplitConfig, find_split_clusters
from flywheel.reports.media import AssetWriter, preview
from flywheel.reports.page import write_page
from flywheel.reports.projector import write_projector
from flywheel.reports.scatter import scatter_page
from flywheel.reports.split_page import split_page
from flywheel.reports.views import label_free_features

METHODS = ("auto", "pca", "umap")


@dataclass(frozen=True)
class EmbeddingsConfig:
    out: Path
    model: str = "promoted"
    method: str = "auto"  # auto: UMAP when umap-learn is installed, else PCA
    max_points: int = 5000  # in the scatter and the projector export
    seed: int = 0
    split: SplitConfig = field(default_factory=SplitConfig)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.method == "umap" and importlib.util.find_spec("umap") is None:
            raise ConfigError("--method umap needs the umap-learn package; install it or use pca")
        if not 1 <= self.max_points <= 60000:  # 60000 sprite cells fit TensorBoard's 8192 px
            raise ConfigError(f"--max-points must be 1..60000, got {self.max_points}")


@dataclass
class EmbeddingsSummary:
    out: Path
    version: str
    total: int
    points: int
    method: str
    splits: list[ClassSplit]
    seconds: float = 0.0

    def line(self) -> str:
        split = [f"{s.class_name} ({len(s.groups)} groups)" for s in self.splits if s.split]
        return (
            f"embeddings of {self.version}: {self.points} of {self.total} samples projected "
            f"by {self.method}; split classes: {', '.join(split) or 'none'} of "
            f"{len(self.splits)} in {self.seconds:.1f}s -> {self.out / 'index.html'}"
        )


def embeddings_report(settings: Settings, config: EmbeddingsConfig) -> EmbeddingsSummary:
    started = time.monotonic()
    lake = Lake(settings)
    row = lakeview.model_row(lake, config.model)
    assert row is not None  # required: a missing model raises
    version = row["version"]
    table = lakeview.point_table(settings, version)
    emb = embedding_matrix(table.column("embedding"))  # (N, D)
    ids = table.column("sample_id").to_pylist()
    classes = lakeview.class_column(table)
    splits = analyse_splits(emb, classes, ids, config.split, lake)
    shown = np.sort(np.random.default_rng(config.seed).permutation(len(ids))[: config.max_points])
    coords, method = project(emb[shown], config.method, config.seed)
    summary = EmbeddingsSummary(config.out, version, len(ids), len(shown), method, splits)
    wanted = [ids[i] for i in shown] + [s for c in splits for g in c.groups for s in g.examples]
    images = _previews(lake, wanted, config.progress)
    writer = AssetWriter(config.out)
    thumbs = {sid: writer.image(sid, img) for sid, img in images.items() if img is not None}
    groups = {s: f"{c.class_name}:{i + 1}" for c in splits if c.split
              for i, g in enumerate(c.groups) for s in g.members}  # fmt: skip
    points = _points(table, shown, thumbs, groups)
    _write(config, summary, coords, points, thumbs, table)
    write_projector(config.out, emb[shown], _metadata(points), [images.get(p["id"]) for p in points],
                    f"flywheel-{version}")  # fmt: skip
    summary.seconds = time.monotonic() - started
    return summary


def embedding_matrix(column: pa.ChunkedArray) -> np.ndarray:
    """list<float32> column of N equal-length rows -> (N, D) float32."""
    n = len(column)
    flat = pc.list_flatten(column.combine_chunks()).to_numpy(zero_copy_only=False)
    if n == 0 or flat.size % n:
        raise ConfigError("embeddings differ in length; the model's predictions are corrupt")
    return flat.astype(np.float32, copy=False).reshape(n, -1)


def analyse_splits(
    emb: np.ndarray,
    classes: list[str],
    ids: list[str],
    config: SplitConfig,
    lake: Lake | None = None,
) -> list[ClassSplit]:
    """Split clusters of every class; samples without a class are left out. With a
    ``lake`` and a calibrated config, the media's label-free view is used as well."""
    keep = np.array([c != lakeview.NO_CLASS for c in classes], dtype=bool)
    labels = [c for c, k in zip(classes, keep, strict=True) if k]
    kept_ids = [s for s, k in zip(ids, keep, strict=True) if k]
    views = label_free_view(lake, kept_ids) if lake is not None and config.calibrate else {}
    return find_split_clusters(emb[keep], labels, kept_ids, config, views)


def label_free_view(lake: Lake, sample_ids: list[str]) -> dict[str, np.ndarray]:
    """``{"imagenet" | "log-mel": (N, D)}`` for ``sample_ids`` of one modality; empty
    when their media cannot all be read (the model's embedding is then the only view)."""
    if not sample_ids:
        return {}
    kinds = lake.read("samples", columns=["modality"], row_filter=among("sample_id", sample_ids))
    modalities = set(kinds.column("modality").to_pylist())
    if len(modalities) != 1:
        return {}
    (modality,) = modalities
    try:
        data = lake.media(sample_ids)
    except (NotFoundError, StorageError):
        return {}
    name = "imagenet" if modality == "image" else "log-mel"
    return {name: label_free_features(modality, data)}


def project(emb: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, str]:
    """(n, D) -> ((n, 2) coordinates, the method used)."""
    if method in ("auto", "umap"):
        try:
            import umap
        except ImportError:
            pass  # auto: PCA (an explicit umap was checked by EmbeddingsConfig)
        else:
            if len(emb) > 15:  # UMAP's default neighbourhood needs more points
                reducer = umap.UMAP(n_components=2, random_state=seed)
                return np.asarray(reducer.fit_transform(emb)), "umap"
    centred = emb.astype(np.float64) - emb.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T  # (n, <=2)
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords, "pca"


def _previews(lake: Lake, sample_ids: list[str], progress: bool) -> dict[str, Image.Image | None]:
    out: dict[str, Image.Image | None] = {}
    bar = tqdm(total=len(set(sample_ids)), desc="thumbnails", unit="img",
               disable=None if progress else True)  # fmt: skip
    for sid, (modality, _, data) in lakeview.iter_media(lake, sample_ids):  # a batch at a time
        out[sid] = preview(modality, data)
        bar.update()
    bar.close()
    return dict(sorted(out.items()))


def _points(
    table: pa.Table, shown: np.ndarray, thumbs: dict[str, str], groups: dict[str, str]
) -> list[dict[str, Any]]:
    rows = table.select(["sample_id", "predicted_label", "confidence", "class_name", "weak_label",
                         "label"]).take(pa.array(shown)).to_pylist()  # fmt: skip
    return [
        {
            "id": r["sample_id"],
            "cls": r["class_name"] or lakeview.NO_CLASS,
            "pred": r["predicted_label"],
            "conf": round(float(r["confidence"]), 3),
            "thumb": thumbs.get(r["sample_id"]),
            "group": groups.get(r["sample_id"], ""),
            "weak": r["weak_label"],
            "label": r["label"],
        }
        for r in rows
    ]


def _metadata(points: list[dict[str, Any]]) -> list[dict[str, object]]:
    keys = {"sample_id": "id", "class": "cls", "weak_label": "weak", "label": "label",
            "predicted": "pred", "confidence": "conf", "split_group": "group"}  # fmt: skip
    return [{col: p[key] for col, key in keys.items()} for p in points]


def _write(
    config: EmbeddingsConfig,
    summary: EmbeddingsSummary,
    coords: np.ndarray,
    points: list[dict[str, Any]],
    thumbs: dict[str, str],
    table: pa.Table,
) -> None:
    subtitle = (
        f"{summary.points} of {summary.total} samples scored by {summary.version}, "
        f"projected by {summary.method.upper()}."
    )
    title = f"Embeddings of {summary.version}"
    write_page(config.out / "index.html", scatter_page(title, subtitle, coords, points))
    predicted = dict(zip(table.column("sample_id").to_pylist(),
                         table.column("predicted_label").to_pylist(), strict=True))  # fmt: skip
    page = split_page(summary.version, summary.splits, config.split, thumbs, predicted)
    write_page(config.out / "split_clusters.html", page)
    doc = {"model": summary.version, "classes": [s.to_json() for s in summary.splits]}
    (config.out / "split_clusters.json").write_text(json.dumps(doc, indent=2) + "\n")
