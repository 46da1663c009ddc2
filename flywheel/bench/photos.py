"""Photo-sized JPEGs from a real data set, for scale benchmarks: Fashion-MNIST articles
upsampled to 224x224 and tinted over a textured background, every file with its own
bytes (background texture, tint and placement are drawn per file from a seeded RNG, so
articles reused past the data set's 70,000 still give new samples), with hashtags.

Layout::

    dest/images/<class>/<index>.jpg
    dest/manifest.jsonl     {"path": "images/bag/000042.jpg", "tags": ["#bag", "#ootd"],
                             "source_ref": "fashion-mnist-42"}
    dest/taxonomy.yaml      classes: {bag: ["#bag"], ...}
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml
from PIL import Image

SIZE = 224  # pixels, both sides
_EXTRA_TAGS = ("#ootd", "#fashion", "#instastyle", "#nofilter")


@dataclass(frozen=True)
class PhotoFolder:
    root: Path
    manifest: Path
    taxonomy: Path
    paths: list[str]  # relative to root, in index order
    labels: list[str]  # true class of each path
    class_names: tuple[str, ...]


def class_tag(name: str) -> str:
    """The hashtag of a class: ``#`` and its name without hyphens.

    >>> class_tag("ankle-boot")
    '#ankleboot'
    """
    return "#" + name.replace("-", "")


def photo_jpeg(
    article: npt.NDArray[np.uint8], rng: np.random.Generator, quality: int = 85
) -> bytes:
    """One SIZE x SIZE RGB JPEG: ``article`` (28x28 uint8, white on black) scaled to
    120..200 pixels, tinted, at a random place over a smooth random texture plus grain."""
    coarse = rng.uniform(40, 215, size=(6, 6, 3)).astype(np.uint8)
    texture = np.asarray(
        Image.fromarray(coarse, "RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC),
        dtype=np.float32,
    )
    texture += rng.normal(0.0, 12.0, size=texture.shape).astype(np.float32)
    side = int(rng.integers(120, 201))
    mask = (
        np.asarray(
            Image.fromarray(article, "L").resize((side, side), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )[..., None]
        / 255.0
    )
    top, left = (int(v) for v in rng.integers(0, SIZE - side + 1, size=2))
    tint = rng.uniform(0, 255, size=3).astype(np.float32)
    patch = texture[top : top + side, left : left + side]
    texture[top : top + side, left : left + side] = patch * (1 - mask) + tint * mask
    img = Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_photo_folder(
    dest: Path,
    articles: npt.NDArray[np.uint8],
    classes: npt.NDArray[np.int64],
    class_names: tuple[str, ...],
    n: int,
    seed: int = 0,
) -> PhotoFolder:
    """Write ``n`` photos (article ``i % len(articles)`` for photo ``i``), the manifest
    (every photo tagged with its class and one unrelated tag) and the taxonomy."""
    rng = np.random.default_rng(seed)
    paths: list[str] = []
    labels: list[str] = []
    manifest = dest / "manifest.jsonl"
    dest.mkdir(parents=True, exist_ok=True)
    for name in class_names:
        (dest / "images" / name).mkdir(parents=True, exist_ok=True)
    with manifest.open("w") as lines:
        for i in range(n):
            k = i % len(articles)
            name = class_names[int(classes[k])]
            rel = f"images/{name}/{i:07d}.jpg"
            (dest / rel).write_bytes(photo_jpeg(articles[k], rng))
            tags = [class_tag(name), _EXTRA_TAGS[i % len(_EXTRA_TAGS)]]
            lines.write(json.dumps({"path": rel, "tags": tags, "source_ref": f"fm-{k}-{i}"}) + "\n")
            paths.append(rel)
            labels.append(name)
    taxonomy = dest / "taxonomy.yaml"
    taxonomy.write_text(yaml.safe_dump({"classes": {c: [class_tag(c)] for c in class_names}}))
    return PhotoFolder(dest, manifest, taxonomy, paths, labels, class_names)


def load_photo_folder(dest: Path, class_names: tuple[str, ...], n: int) -> PhotoFolder | None:
    """The folder ``write_photo_folder`` left at ``dest`` if it holds at least ``n``
    photos (its manifest says so), else None."""
    manifest, taxonomy = dest / "manifest.jsonl", dest / "taxonomy.yaml"
    if not (manifest.is_file() and taxonomy.is_file()):
        return None
    paths = [json.loads(line)["path"] for line in manifest.read_text().splitlines()]
    if len(paths) < n or not (dest / paths[-1]).is_file():
        return None
    labels = [p.split("/")[1] for p in paths]
    return PhotoFolder(dest, manifest, taxonomy, paths, labels, class_names)


def write_manifest_subset(folder: PhotoFolder, n: int) -> Path:
    """A manifest file at the folder's top naming its first ``n`` photos (paths stay
    relative to the folder), so one generated folder serves every N."""
    path = folder.root / f"manifest-{n}.jsonl"
    with folder.manifest.open() as full, path.open("w") as part:
        for i, line in enumerate(full):
            if i >= n:
                break
            part.write(line)
    return path
