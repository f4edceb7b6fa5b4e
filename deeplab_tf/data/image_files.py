"""Reading and checking encoded image files, without PIL.

The converters store images as their original bytes, so a file must be known
complete before it is stored: OpenCV may decode a cut-off file partially or
print a warning and go on. ``check_complete`` walks every PNG chunk (lengths,
CRCs, the closing IEND) and checks a JPEG's SOI and EOI markers.
``read_label_png`` reads the class ids of a grayscale or palette PNG: for a
palette PNG the palette INDEX is the class (PASCAL VOC), which OpenCV would
expand to colours.

Every problem raises ``BadFileError`` with the file's path in the message.
"""

from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
_PNG_GRAY, _PNG_PALETTE = 0, 3


class BadFileError(ValueError):
    """A sample's file is missing, unreadable, truncated or inconsistent; the message names it."""


def read_bytes(path: str, what: str = "file") -> bytes:
    """The contents of ``path``; a missing or unreadable file raises ``BadFileError``."""
    if not os.path.isfile(path):
        raise BadFileError(f"{path}: {what} does not exist")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise BadFileError(f"{path}: {what} cannot be read ({error.strerror or error})") from None


def sniff_format(data: bytes) -> str | None:
    """"png", "jpeg" or None (another format) from the leading bytes."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(_JPEG_SOI + b"\xff"):
        return "jpeg"
    return None


def png_chunks(data: bytes, path: str) -> list[tuple[bytes, bytes]]:
    """The ``(type, payload)`` chunks of a PNG, checked down to the IEND chunk.

    Raises:
      BadFileError: not a PNG, a chunk cut off or failing its CRC, or no IEND.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise BadFileError(f"{path}: not a PNG file")
    chunks, pos = [], len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise BadFileError(f"{path}: truncated PNG (no IEND chunk; file ends at byte {len(data)})")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise BadFileError(f"{path}: truncated PNG (chunk {kind!r} cut off at byte {len(data)})")
        payload = data[pos + 8 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + payload) != crc:
            raise BadFileError(f"{path}: corrupt PNG (CRC mismatch in chunk {kind!r} at byte {pos})")
        chunks.append((kind, payload))
        if kind == b"IEND":
            return chunks
        pos = end


def _check_jpeg(data: bytes, path: str) -> None:
    # Encoders may pad after EOI; an EXIF thumbnail has its own EOI, so the last marker must be it.
    if not data.rstrip(b"\x00\r\n ").endswith(_JPEG_EOI):
        raise BadFileError(f"{path}: truncated JPEG (no end-of-image marker FFD9 at the end)")


def check_complete(data: bytes, path: str) -> str | None:
    """Checks a PNG or JPEG file is whole; returns its format ("png", "jpeg" or None for others).

    Raises:
      BadFileError: a truncated or corrupt PNG or JPEG.
    """
    fmt = sniff_format(data)
    if fmt == "png":
        png_chunks(data, path)
    elif fmt == "jpeg":
        _check_jpeg(data, path)
    return fmt


def decode_color(data: bytes, path: str) -> tuple[np.ndarray, str | None]:
    """Fully decodes an image file's bytes to BGR uint8 [H, W, 3].

    EXIF orientation is ignored, as TensorFlow's decoders ignore it, so sizes
    match what training sees.

    Returns:
      The BGR image and the format (see ``check_complete``).

    Raises:
      BadFileError: empty, truncated, or not decodable.
    """
    if not data:
        raise BadFileError(f"{path}: image file is empty")
    fmt = check_complete(data, path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise BadFileError(f"{path}: not a readable image")
    return image, fmt


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def decode_label_png(data: bytes, path: str) -> np.ndarray:
    """Class ids (uint8 [H, W]) of a grayscale or palette PNG of at most 8 bits per pixel.

    A palette PNG's pixels are its palette indices: the file is re-labelled as
    grayscale (same bit depth, same pixel layout; IHDR colour type 3 -> 0,
    ancillary chunks dropped) and decoded by OpenCV as is.

    Raises:
      BadFileError: truncated or corrupt, colour or 16-bit, or not decodable.
    """
    chunks = png_chunks(data, path)
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise BadFileError(f"{path}: corrupt PNG (no IHDR chunk first)")
    width, height, depth, colour, *rest = struct.unpack(">IIBBBBB", chunks[0][1])
    if colour not in (_PNG_GRAY, _PNG_PALETTE) or depth > 8:
        raise BadFileError(
            f"{path}: label PNG must hold one class id per pixel (8-bit grayscale or palette), "
            f"got PNG colour type {colour} with {depth} bits"
        )
    ihdr = struct.pack(">IIBBBBB", width, height, depth, _PNG_GRAY, *rest)
    gray = (
        PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + b"".join(_chunk(kind, payload) for kind, payload in chunks if kind == b"IDAT")
        + _chunk(b"IEND", b"")
    )
    ids = cv2.imdecode(np.frombuffer(gray, np.uint8), cv2.IMREAD_UNCHANGED)
    if ids is None or ids.shape != (height, width) or ids.dtype != np.uint8:
        raise BadFileError(f"{path}: label PNG cannot be decoded")
    if depth < 8:  # libpng scales 1/2/4-bit gray to 0..255 by bit replication: undo it exactly
        ids = ids // np.uint8(255 // (2**depth - 1))
    return ids


def read_label_png(path: str) -> np.ndarray:
    """``decode_label_png`` of a file; a missing one raises ``BadFileError`` ("mask ... does not exist")."""
    return decode_label_png(read_bytes(path, "mask"), path)


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [H, W] or BGR [H, W, 3] array (deterministic for a given OpenCV)."""
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {array.shape} {array.dtype} array as PNG")
    return encoded.tobytes()


def encode_rgb_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [H, W] or RGB [H, W, 3] array (``encode_png`` after RGB -> BGR)."""
    image = np.asarray(image)
    return encode_png(np.ascontiguousarray(image[..., ::-1]) if image.ndim == 3 else image)
