"""The contract's pre- and post-processing in NumPy: the reference that C++ and Kotlin match bit for bit.

Each function implements one numbered section of mobile/contract/README.md, in
integer arithmetic (or single float32 steps) so that every language gets the
same bytes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

Q_BITS = 11  # fractional bits of the bilinear weights
Q = 1 << Q_BITS


@dataclasses.dataclass(frozen=True)
class Box:
    """Where the image lands in the model input: rows top..top+height, columns left..left+width."""

    top: int
    left: int
    height: int
    width: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def content_box(image_hw: tuple[int, int], input_hw: tuple[int, int], resize: str) -> Box:
    """The content box of README section 1 ("stretch": the whole input; "letterbox": aspect kept, centred).

    Raises:
      ValueError: an unknown resize mode or an empty size.
    """
    (ih, iw), (h, w) = image_hw, input_hw
    if min(ih, iw, h, w) < 1:
        raise ValueError(f"sizes must be positive, got image {image_hw} and input {input_hw}")
    if resize == "stretch":
        return Box(0, 0, h, w)
    if resize != "letterbox":
        raise ValueError(f"resize must be 'stretch' or 'letterbox', got {resize!r}")
    if w * ih <= h * iw:
        ch, cw = max(1, (ih * w + iw // 2) // iw), w
    else:
        ch, cw = h, max(1, (iw * h + ih // 2) // ih)
    return Box((h - ch) // 2, (w - cw) // 2, ch, cw)


def _bilinear_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output index: the two source indices and the weight (0..Q-1) of the second."""
    i = np.arange(size_out, dtype=np.int64)
    t = np.maximum(0, (2 * i + 1) * size_in * Q - size_out * Q)
    s = t // (2 * size_out)
    first = np.minimum(s // Q, size_in - 1)
    return first, np.minimum(first + 1, size_in - 1), s % Q


def resize_bilinear(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 [h, w, C] -> uint8 [height, width, C]: half-pixel centres, 11-bit weights, rounded (section 1)."""
    y0, y1, fy = _bilinear_taps(pixels.shape[0], height)
    x0, x1, fx = _bilinear_taps(pixels.shape[1], width)
    p = pixels.astype(np.int64)
    fx = fx[None, :, None]
    top = p[y0][:, x0] * (Q - fx) + p[y0][:, x1] * fx
    bottom = p[y1][:, x0] * (Q - fx) + p[y1][:, x1] * fx
    fy = fy[:, None, None]
    return ((top * (Q - fy) + bottom * fy + (1 << (2 * Q_BITS - 1))) >> (2 * Q_BITS)).astype(np.uint8)


def resize_pixels(image: np.ndarray, input_hw: tuple[int, int], resize: str, pad: int = 0) -> tuple[np.ndarray, Box]:
    """RGB(A) uint8 image -> RGB uint8 [H, W, 3] at the model input size, and the content box."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"the image must be uint8 [h, w, 3 or 4], got {image.dtype} {image.shape}")
    box = content_box(image.shape[:2], input_hw, resize)
    out = np.full((*input_hw, 3), pad, np.uint8)
    out[box.top : box.top + box.height, box.left : box.left + box.width] = resize_bilinear(
        image[..., :3], box.height, box.width
    )
    return out, box


def to_input_tensor(pixels: np.ndarray, source: dict) -> np.ndarray:
    """Resized RGB pixels -> the input tensor [1, H, W, 3] for the card's ``input`` (section 2).

    Raises:
      ValueError: an input dtype outside the contract, or int8 without quantization.
    """
    dtype = source["dtype"]
    if dtype == "uint8":
        return pixels[None].copy()
    if dtype not in ("float32", "int8"):
        raise ValueError(f"input dtype must be uint8, float32 or int8, got {dtype!r}")
    mean = np.asarray(source["normalization"]["mean"], np.float64).astype(np.float32)
    std = np.asarray(source["normalization"]["std"], np.float64).astype(np.float32)
    x = (pixels.astype(np.float32) - mean) / std
    if dtype == "float32":
        return x[None]
    quantization = source.get("quantization")
    if not quantization:
        raise ValueError("an int8 input needs input.quantization (scale, zero_point)")
    r = x / np.float32(quantization["scale"])
    whole = np.floor(np.abs(r))  # halves away from zero, exactly: the fraction |r| - floor(|r|) is exact
    rounded = np.sign(r) * (whole + (np.abs(r) - whole >= np.float32(0.5)))
    q = rounded.astype(np.int64) + int(quantization["zero_point"])
    return np.clip(q, -128, 127).astype(np.int8)[None]


def output_to_mask(output: np.ndarray, kind: str, num_classes: int) -> np.ndarray:
    """The model output -> uint8 class ids [h, w] (section 3).

    Raises:
      ValueError: a shape or class count that does not fit, or mask ids out of range.
    """
    if kind == "scores":
        if output.ndim != 4 or output.shape[0] != 1 or output.shape[3] != num_classes:
            raise ValueError(f"scores must be [1, H, W, {num_classes}], got {list(output.shape)}")
        return np.argmax(output[0], axis=-1).astype(np.uint8)
    if kind != "mask":
        raise ValueError(f"output kind must be 'scores' or 'mask', got {kind!r}")
    if output.ndim == 4 and output.shape[3] == 1:
        output = output[..., 0]
    if output.ndim != 3 or output.shape[0] != 1:
        raise ValueError(f"a mask must be [1, H, W], got {list(output.shape)}")
    if output.size and (output.min() < 0 or output.max() >= num_classes):
        raise ValueError(f"mask ids must be in 0..{num_classes - 1}, got {output.min()}..{output.max()}")
    return output[0].astype(np.uint8)


def _nearest_taps(size_in: int, size_out: int) -> np.ndarray:
    i = np.arange(size_out, dtype=np.int64)
    return np.minimum((2 * i + 1) * size_in // (2 * size_out), size_in - 1)


def mask_to_image(mask: np.ndarray, box: Box, input_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """Mask at model resolution -> at image resolution: crop to the content box, nearest (section 4)."""
    (mh, mw), (h, w) = mask.shape, input_hw
    top, left = box.top * mh // h, box.left * mw // w
    bottom = ((box.top + box.height) * mh + h - 1) // h
    right = ((box.left + box.width) * mw + w - 1) // w
    crop = mask[top:bottom, left:right]
    rows = _nearest_taps(crop.shape[0], image_hw[0])
    cols = _nearest_taps(crop.shape[1], image_hw[1])
    return crop[rows][:, cols]


def overlay(image: np.ndarray, mask: np.ndarray, colors: np.ndarray, opacity: int) -> np.ndarray:
    """RGBA uint8 [h, w, 4]: the class colours over the image at ``opacity`` 0..255, alpha 255 (section 5)."""
    if not 0 <= opacity <= 255:
        raise ValueError(f"opacity must be in 0..255, got {opacity}")
    colour = np.asarray(colors, np.int64)[mask]
    rgb = (image[..., :3].astype(np.int64) * (255 - opacity) + colour * opacity + 127) // 255
    return np.concatenate([rgb, np.full((*mask.shape, 1), 255)], axis=-1).astype(np.uint8)


def classes_present(mask: np.ndarray) -> list[dict]:
    """``[{"id", "pixels"}]`` of the ids in ``mask``, ascending (section 5)."""
    counts = np.bincount(mask.ravel(), minlength=256)
    return [{"id": int(i), "pixels": int(counts[i])} for i in np.flatnonzero(counts)]
