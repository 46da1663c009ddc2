"""The benchmark's data: a held-out test set and a pool, as the lake would hold them.

Images are stored as PNG bytes in an Arrow ``media`` column, exactly what ingest
writes, so training and scoring decode them with the image modality's own
``collate`` (resize to the network's input size, normalisation). The pool's ground
truth stays with the simulated annotator; a strategy never sees it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from PIL import Image

from flywheel.bench.config import BenchConfig
from flywheel.datasets import LabelledImages, load_dataset
from flywheel.errors import ConfigError
from flywheel.modalities import Modality, get_modality

MODALITY = "image"
DEFAULT_TEST_FRACTION, DEFAULT_TEST_CAP = 0.2, 2000
_CHANNELS = (1, 3)  # grey or RGB: what PNG (and the image modality) reads


@dataclass(frozen=True)
class BenchData:
    """The split, encoded. ``pool`` and ``test`` are Arrow tables with a ``media``
    (PNG bytes) column; ``test`` also carries ``label`` (int32) and ``weight`` (1.0)
    for ``flywheel.train.loop.evaluate``. ``pool_labels`` (P,) is the ground truth
    that only the simulated annotator reads."""

    name: str
    class_names: tuple[str, ...]
    arch: str
    input_spec: dict[str, Any]
    pool: pa.Table
    pool_labels: npt.NDArray[np.int64]
    test: pa.Table

    @property
    def pool_size(self) -> int:
        return self.pool.num_rows


def prepare_data(config: BenchConfig) -> BenchData:
    """Load ``config.dataset``, check that the run fits it, split and encode it.
    Raises ``ConfigError`` (or ``SourceError`` for a missing file) before any training."""
    images = load_dataset(config.dataset)
    n, channels, height, width = images.x.shape
    if channels not in _CHANNELS:
        raise ConfigError(
            f"{config.dataset}: images need 1 or 3 channels (grey or RGB), got {channels}"
        )
    modality = get_modality(MODALITY)
    arch = modality.resolve_arch(config.arch) if config.arch else None
    arch = arch or pick_arch(modality, channels, height, width)
    test_idx, pool_idx = split_indices(config, n)
    test_labels = images.y[test_idx].astype(np.int32)
    test = encode(images, test_idx).append_column("label", pa.array(test_labels))
    test = test.append_column("weight", pa.array(np.ones(len(test_idx), np.float32)))
    return BenchData(
        name=images.name,
        class_names=images.class_names,
        arch=arch,
        input_spec=modality.input_spec(arch),
        pool=encode(images, pool_idx),
        pool_labels=images.y[pool_idx].astype(np.int64),
        test=test,
    )


def split_indices(
    config: BenchConfig, n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(test indices, pool indices) into a dataset of ``n``: disjoint, drawn at random
    with ``config.split_seed``. Raises when the test set or the budget does not fit."""
    test_size = config.test_size or min(DEFAULT_TEST_CAP, int(n * DEFAULT_TEST_FRACTION))
    available = n - test_size
    if test_size < 1 or available < 1:
        raise ConfigError(
            f"{config.dataset} has {n} samples: too few for a test set of {test_size}"
        )
    pool_size = config.pool_size or available
    if pool_size > available:
        raise ConfigError(
            f"--pool-size {pool_size} is larger than the {available} samples left after "
            f"the test set of {test_size}; lower --pool-size or --test-size"
        )
    if config.budget > pool_size:
        raise ConfigError(
            f"--budget {config.budget} is larger than the pool ({pool_size} samples of "
            f"{config.dataset} after a test set of {test_size}); lower --budget"
        )
    perm = np.random.default_rng(config.split_seed).permutation(n).astype(np.int64)
    return perm[:test_size], perm[test_size : test_size + pool_size]


def pick_arch(modality: Modality, channels: int, height: int, width: int) -> str:
    """The first of the modality's archs whose input is exactly (channels, H, W), so
    8x8 digits get the 8x8 net instead of being upscaled; else its default arch."""
    for arch in modality.archs:
        spec = modality.input_spec(arch)
        if spec["size"] == [height, width] and spec["channels"] == channels:
            return arch
    return modality.resolve_arch(None)


def encode(images: LabelledImages, indices: npt.NDArray[np.int64]) -> pa.Table:
    """A table with one ``media`` column: the images at ``indices`` as PNG bytes."""
    return pa.table({"media": pa.array([_png(images.x[i]) for i in indices], pa.binary())})


def _png(chw: npt.NDArray[np.float32]) -> bytes:
    pixels = np.rint(chw * 255.0).astype(np.uint8)  # (C, H, W) in [0, 255]
    # Pillow infers the mode from the shape: (H, W) uint8 is "L", (H, W, 3) is "RGB".
    img = Image.fromarray(pixels[0] if len(pixels) == 1 else pixels.transpose(1, 2, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
