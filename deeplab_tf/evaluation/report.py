"""Evaluation reports and mask pictures, drawn with OpenCV and NumPy only.

Every picture function takes and returns RGB uint8 arrays; ``write_png``
turns them into files. Every file is written through a temporary name and
``os.replace``, so a reader never sees half a file.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from deeplab_tf.artifacts.files import write_bytes_atomic, write_json_atomic
from deeplab_tf.data.image_files import encode_rgb_png
from deeplab_tf.data.registry import get_dataset_info, recorded_dataset

Color = tuple[int, int, int]
FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, BLACK, GRAY = (255, 255, 255), (0, 0, 0), (160, 160, 160)


# --- classes -------------------------------------------------------------------


def fallback_palette(count: int) -> tuple[Color, ...]:
    """``count`` distinct, deterministic RGB colours (golden-ratio hues)."""
    colors = []
    for index in range(count):
        hue = (index * 0.618033988749895) % 1.0
        value = 0.95 if index % 2 == 0 else 0.7
        r, g, b = colorsys.hsv_to_rgb(hue, 0.75, value)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(colors)


def class_names_and_colors(
    dataset: str, num_classes: int, data_dir: str | None = None
) -> tuple[list[str], list[Color]]:
    """Class names and RGB colours: the dataset registry's, else (a ``folder``
    dataset) those deeplab-convert recorded in ``data_dir/dataset.json``.

    Training, evaluation, prediction and export all read them here. A dataset
    neither knows (or whose class count differs from ``num_classes``) gets
    ``class_i`` names and ``fallback_palette``.
    """

    try:
        info = get_dataset_info(dataset)
    except ValueError:
        info = recorded_dataset(data_dir)
    if info is not None and len(info.class_names) == num_classes:
        return list(info.class_names), [tuple(int(c) for c in color) for color in info.colormap]
    return [f"class_{i}" for i in range(num_classes)], list(fallback_palette(num_classes))


# --- files -----------------------------------------------------------------------


def write_json(path: str, data) -> None:
    """Writes ``data`` as indented JSON (NumPy values converted, None as null), atomically."""
    write_json_atomic(path, data, allow_nan=False)


def write_png(path: str, image: np.ndarray) -> None:
    """Writes an RGB [H, W, 3] or single-channel [H, W] uint8 image as PNG, atomically."""
    write_bytes_atomic(path, encode_rgb_png(image))


# --- drawing helpers -----------------------------------------------------------


def _text_size(text: str, scale: float) -> tuple[int, int]:
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, 1)
    return width, height + baseline


def _put(image, text: str, left: int, top: int, scale: float, color=BLACK) -> None:
    """Text whose box starts at (left, top)."""
    _, height = _text_size(text, scale)
    baseline = cv2.getTextSize(text, FONT, scale, 1)[1]
    cv2.putText(image, text, (left, top + height - baseline), FONT, scale, color, 1, cv2.LINE_AA)


def _vertical_text(text: str, scale: float) -> np.ndarray:
    """Text rotated to read bottom-up, black on white."""
    width, height = _text_size(text, scale)
    canvas = np.full((height + 2, width + 2, 3), 255, np.uint8)
    _put(canvas, text, 1, 1, scale)
    return np.ascontiguousarray(np.rot90(canvas))


def _paste(image, patch, left: int, top: int) -> None:
    h = min(patch.shape[0], image.shape[0] - top)
    w = min(patch.shape[1], image.shape[1] - left)
    if h > 0 and w > 0:
        image[top : top + h, left : left + w] = np.minimum(image[top : top + h, left : left + w], patch[:h, :w])


# --- masks -----------------------------------------------------------------------


def colorize(mask: np.ndarray, colormap: Sequence[Color], other: Color = BLACK) -> np.ndarray:
    """Class-id mask [H, W] -> RGB uint8 [H, W, 3]; ids without a colour (e.g. ignore) get ``other``."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    size = max(256, int(mask.max(initial=0)) + 1)
    table = np.tile(np.asarray(other, np.uint8), (size, 1))
    table[: len(colormap)] = np.asarray(colormap, np.uint8).reshape(-1, 3)
    return table[mask.astype(np.int64)]


def legend(entries: Sequence[tuple[str, Color]], scale: float = 0.45) -> np.ndarray:
    """A white RGB panel with a colour swatch and a name per entry."""
    row = max(_text_size("Ag", scale)[1], 12) + 6
    widths = [_text_size(name, scale)[0] for name, _ in entries] or [0]
    panel = np.full((row * len(entries) + 8, row + max(widths) + 16, 3), 255, np.uint8)
    for i, (name, color) in enumerate(entries):
        top = 4 + i * row
        cv2.rectangle(panel, (4, top + 2), (4 + row - 5, top + row - 3), tuple(int(c) for c in color), -1)
        cv2.rectangle(panel, (4, top + 2), (4 + row - 5, top + row - 3), BLACK, 1)
        _put(panel, name, row + 6, top + 3, scale)
    return panel


def blend(image: np.ndarray, mask: np.ndarray, colormap: Sequence[Color], alpha: float = 0.5) -> np.ndarray:
    """Class colours blended over an RGB uint8 image [H, W, 3] (same size);
    pixels whose id has no colour (e.g. ignore) keep the image's colour.

    Raises:
      ValueError: mask and image sizes differ.
    """
    image = np.asarray(image, np.uint8)
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask {mask.shape[:2]} and image {image.shape[:2]} sizes differ")
    colored = colorize(mask, colormap).astype(np.float32)
    blended = image.astype(np.float32) * (1 - alpha) + colored * alpha
    has_color = (mask >= 0) & (mask < len(colormap))
    return np.where(has_color[..., None], np.round(blended), image).astype(np.uint8)


def comparison_strip(
    image: np.ndarray, label: np.ndarray, prediction: np.ndarray, colormap: Sequence[Color], alpha: float = 0.5, gap: int = 4
) -> np.ndarray:
    """image | ground truth | prediction side by side, the masks as colour
    overlays (``blend``), separated by ``gap`` white columns: RGB uint8
    [H, 3 * W + 2 * gap, 3]. Same-size inputs give same-size strips (TensorBoard
    wants a batch of equal shapes), so there is no legend."""
    image = np.asarray(image, np.uint8)
    space = np.full((image.shape[0], gap, 3), 255, np.uint8)
    panels = [image, space, blend(image, label, colormap, alpha), space, blend(image, prediction, colormap, alpha)]
    return np.concatenate(panels, axis=1)


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    colormap: Sequence[Color],
    alpha: float = 0.5,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Blends class colours over an RGB image and adds a legend of the classes present.

    Args:
      image: RGB uint8 [H, W, 3].
      mask: class ids [H, W] (ids without a colour, e.g. ignore, stay unblended).
      colormap: RGB colour per class.
      alpha: weight of the class colour.
      class_names: names for the legend; default ``class_i``.

    Returns:
      RGB uint8 [max(H, legend height), W + legend width, 3]: the blended image
      with the legend panel on its right (white below the image if the legend
      is taller).
    """
    out = blend(image, mask, colormap, alpha)
    mask = np.asarray(mask)
    names = class_names or [f"class_{i}" for i in range(len(colormap))]
    present = [int(c) for c in np.unique(mask) if 0 <= c < len(colormap)]
    panel = legend([(names[c], colormap[c]) for c in present])
    height = max(out.shape[0], panel.shape[0])
    canvas = np.full((height, out.shape[1] + panel.shape[1], 3), 255, np.uint8)
    canvas[: out.shape[0], : out.shape[1]] = out
    canvas[: panel.shape[0], out.shape[1] :] = panel
    return canvas


# --- report pictures -----------------------------------------------------------


def confusion_matrix_image(matrix, class_names: Sequence[str]) -> np.ndarray:
    """The row-normalized confusion matrix as an RGB picture (viridis; rows:
    ground truth, columns: prediction; rows without pixels grey; values
    printed when the cells are large enough)."""
    matrix = np.asarray(matrix, np.float64)
    classes = matrix.shape[0]
    rows = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    cell = int(np.clip(560 // classes, 12, 48))
    scale = float(np.clip(cell / 40, 0.3, 0.5))
    label_width = max(_text_size(name, scale)[0] for name in class_names) + 8
    corner = "truth \\ prediction"
    left = max(label_width, _text_size(corner, 0.4)[0] + 8)
    top = max(label_width, _text_size(corner, 0.4)[1] + 8)
    size = cell * classes
    image = np.full((top + size + 8, left + size + 8, 3), 255, np.uint8)
    levels = np.round(normalized * 255).astype(np.uint8)
    colors = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    colors[rows[:, 0] == 0] = (220, 220, 220)
    image[top : top + size, left : left + size] = np.repeat(np.repeat(colors, cell, 0), cell, 1)
    _put(image, corner, 4, 4, 0.4)
    for i, name in enumerate(class_names):
        width, height = _text_size(name, scale)
        _put(image, name, left - width - 4, top + i * cell + (cell - height) // 2, scale)
        patch = _vertical_text(name, scale)
        _paste(image, patch, left + i * cell + (cell - patch.shape[1]) // 2, top - patch.shape[0] - 4)
    if cell >= 32:
        for i in range(classes):
            for j in range(classes):
                if rows[i, 0] == 0:
                    continue
                text = f"{normalized[i, j]:.2f}"
                width, height = _text_size(text, 0.35)
                color = BLACK if normalized[i, j] > 0.6 else WHITE
                _put(
                    image,
                    text,
                    left + j * cell + (cell - width) // 2,
                    top + i * cell + (cell - height) // 2,
                    0.35,
                    color,
                )
    cv2.rectangle(image, (left - 1, top - 1), (left + size, top + size), BLACK, 1)
    return image


def iou_bar_chart(per_class_iou: dict, miou: float | None, colormap: Sequence[Color] | None = None) -> np.ndarray:
    """Horizontal bars of per-class IoU (class colours, "n/a" for absent
    classes) with the mIoU as a red line, as an RGB picture."""
    names = list(per_class_iou)
    scale, row, bar = 0.45, 20, 320
    label_width = max(_text_size(name, scale)[0] for name in names) + 10
    title = "per-class IoU" + (f"  (mIoU {miou:.4f})" if miou is not None else "")
    top = 30
    image = np.full((top + row * len(names) + 26, label_width + bar + 70, 3), 255, np.uint8)
    _put(image, title, 6, 6, 0.5)
    for i, name in enumerate(names):
        y = top + i * row
        width, _ = _text_size(name, scale)
        _put(image, name, label_width - width - 6, y + 3, scale)
        iou = per_class_iou[name]
        if iou is None:
            _put(image, "n/a", label_width + 4, y + 3, scale, GRAY)
            continue
        color = tuple(int(c) for c in colormap[i]) if colormap is not None else (70, 110, 200)
        end = label_width + int(round(iou * bar))
        if end > label_width:
            cv2.rectangle(image, (label_width, y + 3), (end, y + row - 3), color, -1)
        cv2.rectangle(image, (label_width, y + 3), (max(end, label_width + 1), y + row - 3), BLACK, 1)
        _put(image, f"{iou:.3f}", end + 4, y + 3, scale)
    bottom = top + row * len(names)
    cv2.line(image, (label_width, top), (label_width, bottom), BLACK, 1)
    for tick in (0.0, 0.5, 1.0):
        x = label_width + int(tick * bar)
        cv2.line(image, (x, bottom), (x, bottom + 4), BLACK, 1)
        _put(image, f"{tick:.1f}", x - 8, bottom + 6, 0.35)
    if miou is not None:
        x = label_width + int(round(miou * bar))
        cv2.line(image, (x, top), (x, bottom), (220, 30, 30), 1)
    return image


def write_report(json_path: str, report: dict, class_names: Sequence[str], colormap: Sequence[Color]) -> dict:
    """Writes the JSON report and, next to it, ``*_confusion.png`` and ``*_iou.png``.

    Args:
      json_path: where the JSON goes; the PNGs take its name without ``.json``.
      report: a dict with at least ``miou``, ``per_class_iou`` and ``confusion_matrix``.
      class_names, colormap: in class order.

    Returns:
      {"json", "confusion_png", "iou_png"}: the paths written.
    """
    stem = json_path[: -len(".json")] if json_path.endswith(".json") else json_path
    paths = {"json": json_path, "confusion_png": f"{stem}_confusion.png", "iou_png": f"{stem}_iou.png"}
    write_png(paths["confusion_png"], confusion_matrix_image(report["confusion_matrix"], class_names))
    write_png(paths["iou_png"], iou_bar_chart(report["per_class_iou"], report["miou"], colormap))
    write_json(json_path, report)
    return paths
