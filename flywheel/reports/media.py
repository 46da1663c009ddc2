"""Previews of sample media for the report pages: image thumbnails, audio waveforms,
and the clip files an ``<audio>`` player plays.

Previews are written as files under the report's folder (``media/<sample_id>.png``) and
referenced by relative URL, so a page stays small and opens from disk.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

THUMB_PX = 96  # longest side of a gallery or hover thumbnail, pixels
WAVE_SIZE = (240, 64)  # (width, height) of a waveform image, pixels
_AUDIO_EXT = {"audio/x-wav": "wav", "audio/wav": "wav", "audio/wave": "wav", "audio/flac": "flac",
              "audio/x-flac": "flac", "audio/mpeg": "mp3", "audio/ogg": "ogg"}  # fmt: skip


def image_thumbnail(data: bytes, px: int = THUMB_PX) -> Image.Image | None:
    """The image scaled to fit ``px`` x ``px``; None when the bytes do not decode.
    Tiny images (8x8 digits) are scaled up by a whole factor with nearest-neighbour
    sampling, so their pixels stay sharp instead of blurring."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns on odd metadata; we only need pixels
            opened = Image.open(io.BytesIO(data))
            opened.load()
        img: Image.Image = ImageOps.exif_transpose(opened)
    except Exception:  # PIL raises many types for bad bytes; none of them matter here
        return None
    if img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    factor = px / max(img.size)
    if factor >= 2:
        whole = int(factor)
        return img.resize((img.width * whole, img.height * whole), Image.Resampling.NEAREST)
    img.thumbnail((px, px), Image.Resampling.LANCZOS)
    return img


def decode_audio(data: bytes) -> tuple[np.ndarray, int] | None:
    """(mono float32 samples (N,), sample rate Hz), or None when undecodable."""
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)  # (N, C)
    except Exception:  # libsndfile errors come in several types
        return None
    if audio.size == 0:
        return None
    return audio.mean(axis=1), int(rate)


def loudest_span(mono: np.ndarray, rate: int) -> tuple[float, float]:
    """(start, end) as fractions of the clip of the loudest window the speech model
    centres its input on (``window_s`` of the audio input spec), clipped to the clip."""
    from flywheel.modalities import AudioModality, loudest_centre

    window = round(rate * float(AudioModality().input_spec()["window_s"]))
    centre = loudest_centre(mono, window)
    n = len(mono)
    return max(0.0, (centre - window / 2) / n), min(1.0, (centre + window / 2) / n)


def waveform_image(
    mono: np.ndarray, size: tuple[int, int] = WAVE_SIZE, span: tuple[float, float] | None = None
) -> Image.Image:
    """Min/max envelope of ``mono`` (N,) in [-1, 1], one column per pixel; ``span``
    (fractions of the clip) is shaded: the window the model is centred on."""
    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    if span is not None:
        draw.rectangle([(span[0] * width, 0), (span[1] * width, height - 1)], fill="#fff3bf")
    mid = height / 2
    draw.line([(0, mid), (width, mid)], fill="#d0d7de")
    cols = np.array_split(mono, min(width, len(mono)))  # [(~N/width,)] one per column
    step = width / len(cols)
    for x, chunk in enumerate(cols):
        lo, hi = float(np.clip(chunk.min(), -1, 1)), float(np.clip(chunk.max(), -1, 1))
        draw.line([(x * step, mid - hi * mid), (x * step, mid - lo * mid)], fill="#0969da")
    return img


def preview(modality: str, data: bytes | None, px: int = THUMB_PX) -> Image.Image | None:
    """The picture that stands for a sample: its thumbnail, or its waveform for audio."""
    if data is None:
        return None
    if modality == "audio":
        decoded = decode_audio(data)
        if decoded is None:
            return None
        return waveform_image(decoded[0], (px * 5 // 2, px * 2 // 3), loudest_span(*decoded))
    return image_thumbnail(data, px)


def square(img: Image.Image, px: int) -> Image.Image:
    """``img`` fitted into a white ``px`` x ``px`` RGB square (sprite cells)."""
    cell = Image.new("RGB", (px, px), "white")
    fitted = img.convert("RGB")
    fitted.thumbnail((px, px), Image.Resampling.NEAREST)
    cell.paste(fitted, ((px - fitted.width) // 2, (px - fitted.height) // 2))
    return cell


class AssetWriter:
    """Writes previews under ``root/media`` and returns their URLs relative to ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "media"
        self.folder.mkdir(parents=True, exist_ok=True)

    def image(self, name: str, img: Image.Image) -> str:
        path = self.folder / f"{name}.png"
        img.save(path, format="PNG")
        return f"media/{path.name}"

    def clip(self, name: str, mime: str, data: bytes) -> str:
        """A copy of the clip for the page's player; the extension comes from the MIME."""
        path = self.folder / f"{name}.{_AUDIO_EXT.get(mime, 'bin')}"
        path.write_bytes(data)
        return f"media/{path.name}"
