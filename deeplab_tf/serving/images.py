"""Images in, bounded: JPEG/PNG bytes -> RGB uint8, refused before decoding when too large.

The pixel count is read from the file header (Pillow opens lazily), so a
decompression bomb (a small file that expands to gigapixels) is refused before
any pixel is expanded. Grey, 16-bit, palette and alpha images are converted to
8-bit RGB (alpha dropped); truncated files are refused.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

FORMATS = ("JPEG", "PNG")


class BadInput(ValueError):
    """A request the server refuses: ``status`` (4xx) and a message naming the problem."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """RGB uint8 [H, W, 3] of JPEG or PNG ``data``.

    Raises:
      BadInput: empty, not JPEG/PNG, more than ``max_pixels`` pixels (413, from the
        header, before decoding), or truncated/corrupt.
    """
    if not data:
        raise BadInput("empty image: the body holds no bytes")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:  # Pillow's own header check, far past any sane limit
        raise BadInput(f"{error}: more than the limit {max_pixels}", 413) from None
    except Exception:  # noqa: BLE001  (Pillow raises several types for unreadable headers)
        raise BadInput(f"not a JPEG or PNG image ({len(data)} bytes starting {data[:8]!r})") from None
    if image.format not in FORMATS:
        raise BadInput(f"unsupported image format {image.format}: send JPEG or PNG")
    width, height = image.size
    if width * height > max_pixels:
        raise BadInput(f"image {width}x{height} has {width * height} pixels, more than the limit {max_pixels}", 413)
    try:
        image.load()
    except Exception as error:  # noqa: BLE001  (truncated or corrupt data: OSError, SyntaxError, ...)
        raise BadInput(f"{image.format} image {width}x{height} cannot be decoded: {error}") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> np.ndarray:
    """8-bit RGB of any Pillow mode: 16-bit grey scaled down, palette expanded, alpha dropped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(image, np.uint32 if image.mode == "I" else np.uint16)
        grey = (np.clip(grey, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode != "RGB":
        image = image.convert("RGBA" if "transparency" in image.info else image.mode).convert("RGB")
    return np.asarray(image, np.uint8)

