"""An export TensorBoard's Embedding Projector opens: ``tensors.tsv`` (one embedding per
line), ``metadata.tsv`` (a header, then one row per embedding), ``sprite.png`` (one
thumbnail per embedding, row-major) and ``projector_config.pbtxt`` tying them together.

    tensorboard --logdir DIR        # then the "Projector" tab
or load tensors.tsv and metadata.tsv at https://projector.tensorflow.org by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from flywheel.reports.media import square

SPRITE_CELL = 32  # pixels per thumbnail in the sprite
SPRITE_MAX = 8192  # TensorBoard's largest sprite side, pixels


def _clean(value: object) -> str:
    """A TSV cell: no tabs or newlines, empty for None."""
    return "" if value is None else " ".join(str(value).split())


def write_projector(
    out: Path,
    embeddings: np.ndarray,
    metadata: Sequence[dict[str, object]],
    previews: Sequence[Image.Image | None],
    tensor_name: str,
) -> list[Path]:
    """Write the four files into ``out``; ``embeddings`` (N, D), N metadata rows (same
    keys each), N previews (None: a blank cell). Returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    tensors = out / "tensors.tsv"
    np.savetxt(tensors, np.asarray(embeddings, dtype=np.float32), delimiter="\t", fmt="%.6g")
    meta = out / "metadata.tsv"
    columns = list(metadata[0]) if metadata else ["sample_id"]
    lines = ["\t".join(columns)] + ["\t".join(_clean(r[c]) for c in columns) for r in metadata]
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = [tensors, meta]
    sprite = _sprite(out / "sprite.png", previews)
    if sprite is not None:
        written.append(sprite)
    written.append(_config(out / "projector_config.pbtxt", tensor_name, sprite is not None))
    return written


def _sprite(path: Path, previews: Sequence[Image.Image | None]) -> Path | None:
    """A square grid of SPRITE_CELL-pixel cells; None when it would exceed SPRITE_MAX."""
    side = max(1, math.ceil(math.sqrt(len(previews))))  # cells per row and column
    if side * SPRITE_CELL > SPRITE_MAX or not previews:
        return None
    sheet = Image.new("RGB", (side * SPRITE_CELL, side * SPRITE_CELL), "white")
    for i, img in enumerate(previews):
        if img is not None:
            cell = square(img, SPRITE_CELL)
            sheet.paste(cell, ((i % side) * SPRITE_CELL, (i // side) * SPRITE_CELL))
    sheet.save(path, format="PNG")
    return path


def _config(path: Path, tensor_name: str, with_sprite: bool) -> Path:
    sprite = (
        f'  sprite {{\n    image_path: "sprite.png"\n'
        f"    single_image_dim: {SPRITE_CELL}\n    single_image_dim: {SPRITE_CELL}\n  }}\n"
        if with_sprite
        else ""
    )
    path.write_text(
        "embeddings {\n"
        f'  tensor_name: "{tensor_name}"\n'
        '  tensor_path: "tensors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        f"{sprite}}}\n"
    )
    return path
