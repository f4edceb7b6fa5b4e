"""Embedded synthetic segmentation dataset: shapes on clutter, deterministic from a seed.

``generate(seed, index, size)`` draws one RGB image and its class-id mask, with no
download and no global random state (``np.random.default_rng([seed, index])``).

What is drawn, and why a colour lookup cannot solve it:

- Background: a random two-colour gradient overlaid with one or two textures at a
  random scale and angle (band-limited noise, soft or hard stripes, a checkerboard,
  camouflage patches), plus background distractors (line segments and irregular
  stars) that are labelled background.
- Objects: 2 to 7 of the classes in ``CLASS_NAMES``, each 8% to 45% of the image
  side, at a random angle and position (sometimes partly outside the frame). Every
  image draws its own palette; background, distractors and objects of every class
  take their colours from it, and about half of the objects carry a texture from
  the same family as the background, so neither colour nor texture identifies a class.
  Classes differ by shape only: a ring is a disc with a hole through which whatever
  lies behind shows; a square and a triangle differ by their corners; a cross by its
  arms.
- Later objects occlude earlier ones; the mask holds the front-most class.
- Then a low-frequency illumination change, a slight Gaussian blur and additive
  Gaussian noise over the whole image.
- In about a third of the images, a band of ``IGNORE_LABEL`` 1 or 2 pixels wide
  runs along every object boundary (as in PASCAL VOC), so the ignore path of the
  loss and of the metrics is exercised.

The image is drawn anti-aliased; the mask holds crisp class ids (a pixel belongs
to an object where the object covers at least half of it).
"""

from __future__ import annotations

import colorsys
from statistics import NormalDist

import cv2
import numpy as np

CLASS_NAMES: tuple[str, ...] = ("background", "disc", "ring", "square", "triangle", "cross")
COLORMAP: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
)
IGNORE_LABEL = 255

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT
_TEXTURES = ("noise", "stripes", "checker", "patches")
# The 12 corners of a plus sign, as indices into (-half length, -half arm width, +half arm width, +half length).
_CROSS = np.array([[1, 0], [2, 0], [2, 1], [3, 1], [3, 2], [2, 2], [2, 3], [1, 3], [1, 2], [0, 2], [0, 1], [1, 1]])
# Standard normal quantiles at 256 levels: Gaussian pixel noise from random bytes, 10x cheaper than normal().
_GAUSS = np.array([NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)], np.float32)

# Images are built channel-first (3, H, W) in float32: blending a colour into a plane then broadcasts
# over whole rows instead of over a trailing axis of 3, which numpy does slowly.


def _palette(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` random RGB colours (float32 0..255) with well-spread hues."""
    hues = (rng.random() + np.arange(count) / count + rng.uniform(-0.3, 0.3, count) / count) % 1.0
    rng.shuffle(hues)
    colours = [colorsys.hsv_to_rgb(h, rng.uniform(0.15, 1.0), rng.uniform(0.2, 1.0)) for h in hues]
    return np.asarray(colours, np.float32) * 255.0


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float = 25.0) -> np.ndarray:
    return np.clip(colour + rng.uniform(-amount, amount, 3), 0, 255).astype(np.float32)


def _coords(h: int, w: int, x0: int, y0: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates of a (h, w) window at (x0, y0), rotated by `angle` (u along, v across)."""
    ys = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
    xs = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return xs * c + ys * s, ys * c - xs * s


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Band-limited noise in [0, 1]: a coarse random grid with `cell` pixel cells, upsampled."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    grid = rng.random((gh, gw), dtype=np.float32)
    return np.clip(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def _pattern(rng: np.random.Generator, kind: str, h: int, w: int, x0: int, y0: int, side: int) -> np.ndarray:
    """A texture of the given kind as weights in [0, 1], shape (h, w), at a random scale."""
    if kind == "noise":
        return _smooth_noise(rng, h, w, side * rng.uniform(0.03, 0.25))
    if kind == "patches":
        noise = _smooth_noise(rng, h, w, side * rng.uniform(0.05, 0.3))
        return np.clip((noise - rng.uniform(0.35, 0.65)) * rng.uniform(4.0, 20.0) + 0.5, 0.0, 1.0)
    u, v = _coords(h, w, x0, y0, rng.uniform(0, np.pi))
    period = np.float32(side * rng.uniform(0.03, 0.2))
    if kind == "stripes":
        wave = 0.5 + 0.5 * np.sin(u * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.5:  # hard-edged stripes
            wave = np.clip((wave - 0.5) * 8.0 + 0.5, 0.0, 1.0)
        return wave.astype(np.float32)
    # checker
    cells = np.floor(u / period) + np.floor(v / (period * np.float32(rng.uniform(0.7, 1.4))))
    return (cells % 2).astype(np.float32)


def _gradient(rng: np.random.Generator, h: int, w: int, x0: int, y0: int) -> np.ndarray:
    """A linear ramp in [0, 1] across the window, in a random direction."""
    u, _ = _coords(h, w, x0, y0, rng.uniform(0, 2 * np.pi))
    lo, hi = float(u.min()), float(u.max())
    return ((u - lo) / max(hi - lo, 1e-6)).astype(np.float32)


def _col(colour: np.ndarray) -> np.ndarray:
    return colour.reshape(3, 1, 1)


def _blend(c1: np.ndarray, c2: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Colours c1 -> c2 (each (3,)) by weights (h, w) -> (3, h, w)."""
    return _col(c1) + weights * _col(c2 - c1)


def _background(rng: np.random.Generator, h: int, w: int, palette: np.ndarray) -> np.ndarray:
    side = min(h, w)
    i, j = rng.choice(len(palette), 2, replace=False)
    image = _blend(_jitter(rng, palette[i]), _jitter(rng, palette[j]), _gradient(rng, h, w, 0, 0))
    for _ in range(rng.integers(1, 3)):
        kind = _TEXTURES[rng.integers(len(_TEXTURES))]
        colour = _jitter(rng, palette[rng.integers(len(palette))])
        weights = _pattern(rng, kind, h, w, 0, 0, side) * np.float32(rng.uniform(0.3, 0.9))
        image += weights * (_col(colour) - image)
    return image


def _shape_contours(rng: np.random.Generator, cls: int, cx: float, cy: float, size: float) -> list[np.ndarray]:
    """Polygon contours (float, image coordinates) of one object of class `cls` and extent `size`."""
    angle = rng.uniform(0, 2 * np.pi)
    r = size / 2.0
    name = CLASS_NAMES[cls]
    if name in ("disc", "ring"):
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        ratio = rng.uniform(0.8, 1.0)  # slightly elliptical
        pts = [np.stack([np.cos(t) * r, np.sin(t) * r * ratio], 1)]
        if name == "ring":
            pts.append(pts[0] * rng.uniform(0.4, 0.7))
    elif name == "square":
        a = r * 0.8
        pts = [np.array([[-a, -a], [a, -a], [a, a], [-a, a]]) * [1.0, rng.uniform(0.85, 1.0)]]
    elif name == "triangle":
        t = np.pi / 2 + np.arange(3) * (2 * np.pi / 3) + rng.uniform(-0.25, 0.25, 3)
        radii = r * rng.uniform(0.85, 1.05, 3)
        pts = [np.stack([np.cos(t) * radii, np.sin(t) * radii], 1)]
    else:  # cross
        a = r * rng.uniform(0.16, 0.24)
        pts = [np.array([-r, -a, a, r])[_CROSS]]
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    return [p @ rot + [cx, cy] for p in pts]


def _distractor_contours(rng: np.random.Generator, h: int, w: int) -> tuple[list[np.ndarray], int]:
    """A background distractor: a line segment (thickness > 0) or an irregular star, 5 to 8 spikes (thickness 0)."""
    side = min(h, w)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    if rng.random() < 0.5:
        length = side * rng.uniform(0.2, 0.8)
        a = rng.uniform(0, np.pi)
        d = np.array([np.cos(a), np.sin(a)]) * length / 2
        return [np.array([[cx, cy] - d, [cx, cy] + d])], int(rng.integers(1, max(2, side // 40) + 1))
    n = int(rng.integers(5, 9))  # spikes; 4 would look like a cross
    t = rng.uniform(0, 2 * np.pi) + np.arange(2 * n) * (np.pi / n) + rng.uniform(-0.15, 0.15, 2 * n)
    radii = side * rng.uniform(0.04, 0.15) * rng.uniform(0.8, 1.0, 2 * n)
    radii[1::2] *= rng.uniform(0.3, 0.6)
    return [np.stack([cx + np.cos(t) * radii, cy + np.sin(t) * radii], 1)], 0


def _coverage(contours: list[np.ndarray], h: int, w: int, thickness: int = 0):
    """Anti-aliased coverage (float32 [0, 1]) of the contours in their clipped bounding box, and the box."""
    allpts = np.concatenate(contours)
    pad = thickness + 2
    x0, y0 = np.floor(allpts.min(0)).astype(int) - pad
    x1, y1 = np.ceil(allpts.max(0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None, None
    canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
    fixed = [np.round((p - [x0, y0]) * _ONE).astype(np.int32) for p in contours]
    if thickness:
        cv2.polylines(canvas, fixed, False, 255, thickness, cv2.LINE_AA, _SHIFT)
    else:
        cv2.fillPoly(canvas, fixed, 255, cv2.LINE_AA, shift=_SHIFT)
    return canvas.astype(np.float32) * np.float32(1 / 255), (x0, y0, x1, y1)


def _fill(
    rng: np.random.Generator, palette: np.ndarray, h: int, w: int, x0: int, y0: int, side: int, avoid: np.ndarray
):
    """The fill of one object: a palette colour unlike `avoid`, flat with shading or textured."""
    for _ in range(8):
        colour = _jitter(rng, palette[rng.integers(len(palette))], 35.0)
        if np.abs(colour - avoid).sum() > 90.0:
            break
    if rng.random() < 0.5:
        shade = _gradient(rng, h, w, x0, y0) - 0.5
        return _col(colour) + shade * np.float32(rng.uniform(0, 60))
    other = _jitter(rng, palette[rng.integers(len(palette))], 35.0)
    kind = _TEXTURES[rng.integers(len(_TEXTURES))]
    weights = _pattern(rng, kind, h, w, x0, y0, side) * np.float32(rng.uniform(0.3, 0.8))
    return _blend(colour, other, weights)


def _ignore_band(mask: np.ndarray, width: int) -> np.ndarray:
    """Where `mask` changes class: 2-pixel band (both sides) or 1-pixel band (one side)."""
    if width >= 2:
        kernel = np.ones((3, 3), np.uint8)
        return cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
    band = np.zeros(mask.shape, bool)
    band[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    band[:-1, :] |= mask[:-1, :] != mask[1:, :]
    return band


def generate(seed: int, index: int, size: tuple[int, int] = (128, 128)) -> tuple[np.ndarray, np.ndarray]:
    """Image `index` of the synthetic dataset `seed`.

    Args:
      seed: dataset seed (non-negative int); (seed, index, size) fixes the output exactly.
      index: image number within the dataset (any non-negative int).
      size: (height, width), each at least 32 for the intended content.

    Returns:
      image: uint8 [H, W, 3] RGB.
      mask: uint8 [H, W], class ids 0..len(CLASS_NAMES)-1 and IGNORE_LABEL on boundary bands.
    """
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    rng = np.random.default_rng([seed, index])
    side = min(h, w)
    palette = _palette(rng, int(rng.integers(4, 8)))
    image = _background(rng, h, w, palette)
    mask = np.zeros((h, w), np.uint8)

    for _ in range(rng.integers(0, 4)):
        contours, thickness = _distractor_contours(rng, h, w)
        alpha, box = _coverage(contours, h, w, thickness)
        if alpha is None:
            continue
        x0, y0, x1, y1 = box
        colour = _jitter(rng, palette[rng.integers(len(palette))], 35.0)
        region = image[:, y0:y1, x0:x1]
        region += alpha * (_col(colour) - region)

    for _ in range(rng.integers(2, 8)):
        cls = int(rng.integers(1, len(CLASS_NAMES)))
        extent = side * rng.uniform(0.08, 0.45)
        cx, cy = rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h
        contours = _shape_contours(rng, cls, cx, cy, extent)
        alpha, box = _coverage(contours, h, w)
        if alpha is None:
            continue
        x0, y0, x1, y1 = box
        region = image[:, y0:y1, x0:x1]
        avoid = region.reshape(3, -1).mean(1)
        fill = _fill(rng, palette, y1 - y0, x1 - x0, x0, y0, side, avoid)
        region += alpha * (fill - region)
        mask[y0:y1, x0:x1][alpha >= 0.5] = cls

    # Illumination, blur, noise.
    light = 1.0 + (_smooth_noise(rng, h, w, side * rng.uniform(0.3, 1.0)) - 0.5) * np.float32(rng.uniform(0.0, 0.5))
    image *= light
    image = cv2.GaussianBlur(np.ascontiguousarray(image.transpose(1, 2, 0)), (0, 0), rng.uniform(0.4, 1.0))
    image += _GAUSS[rng.integers(0, 256, image.shape, dtype=np.uint8)] * np.float32(rng.uniform(2.0, 8.0))
    image = np.clip(image + 0.5, 0, 255, out=image).astype(np.uint8)

    if rng.random() < 1 / 3:
        mask[_ignore_band(mask, int(rng.integers(1, 3)))] = IGNORE_LABEL
    return image, mask
