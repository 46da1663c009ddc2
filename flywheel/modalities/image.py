"""Images: decode with Pillow, reject what a model cannot learn from.

Checks, in order (each one a ``Rejected.reason``):

- ``undecodable``: Pillow cannot identify or decode the bytes.
- ``truncated``: the header is readable but the pixel data ends early.
- ``too_small``: the shorter side has fewer than ``min_side`` pixels.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from flywheel.errors import ConfigError
from flywheel.modalities.base import MediaFacts, Modality, Rejected

# Pillow reports a short read with an OSError whose message says so; every other
# decoding failure is "undecodable".
_TRUNCATION_WORDS = ("truncated", "incomplete")


class ImageModality(Modality):
    """Still images in any format Pillow reads (PNG, JPEG, GIF, WebP, ...).

    >>> ImageModality().quality_checks
    ('undecodable', 'truncated', 'too_small')
    """

    name = "image"
    mime_prefixes = ("image/",)
    quality_checks = ("undecodable", "truncated", "too_small")

    def __init__(self, min_side: int = 8) -> None:
        if min_side < 1:
            raise ConfigError(f"min_side must be >= 1 pixel, got {min_side}")
        self.min_side = min_side  # pixels

    def inspect(self, data: bytes, mime: str) -> MediaFacts:
        """Decode every pixel (``load()``, so a short file fails here, not later) and
        return width and height in pixels and channels = bands of the decoded mode
        (L: 1, LA: 2, RGB: 3, RGBA: 4; a palette image P counts 1)."""
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                width, height = img.size
                channels = len(img.getbands())
        except UnidentifiedImageError:
            raise Rejected(
                "undecodable", f"Pillow cannot identify an image format ({mime})"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as err:
            message = str(err)
            if isinstance(err, OSError) and any(w in message.lower() for w in _TRUNCATION_WORDS):
                raise Rejected("truncated", message) from None
            raise Rejected("undecodable", f"Pillow cannot decode it ({mime}): {message}") from None
        if min(width, height) < self.min_side:
            raise Rejected(
                "too_small", f"{width}x{height} pixels; the shorter side must be >= {self.min_side}"
            )
        return MediaFacts(width=width, height=height, channels=channels)
