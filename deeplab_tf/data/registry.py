"""The one place that knows each dataset's classes, colours and ignore label.

``get_dataset_info(name)`` for the built-in datasets; ``load_label_map(path)``
for a ``folder`` dataset described by a label-map file. Training, evaluation,
export (the TFLite label file is ``labels_text()``) and the apps read them here.
"""

from __future__ import annotations

import dataclasses
import os
import re

from deeplab_tf.data import synthetic

Color = tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A dataset's classes (index order), one RGB colour per class, and its ignore label."""

    name: str
    class_names: tuple[str, ...]
    colormap: tuple[Color, ...]
    ignore_label: int
    description: str

    def __post_init__(self):
        if not self.class_names:
            raise ValueError(f"dataset {self.name!r} has no classes")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"dataset {self.name!r} has duplicate class names")
        if len(self.colormap) != len(self.class_names):
            raise ValueError(
                f"dataset {self.name!r}: {len(self.colormap)} colours for {len(self.class_names)} classes"
            )
        if not (len(self.class_names) <= self.ignore_label <= 255):
            raise ValueError(
                f"dataset {self.name!r}: ignore label {self.ignore_label} must be in "
                f"{len(self.class_names)}..255 (not a class id, and fit a uint8 mask)"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "colormap": [list(color) for color in self.colormap],
            "ignore_label": self.ignore_label,
            "description": self.description,
        }

    def labels_text(self) -> str:
        """One class name a line, in index order: the contents of a TFLite label file."""
        return "".join(f"{name}\n" for name in self.class_names)


def bit_palette(count: int) -> tuple[Color, ...]:
    """The PASCAL VOC colour palette (bits of the index spread over R, G, B): distinct for 0..255."""
    colors = []
    for index in range(count):
        r = g = b = 0
        for shift in range(7, -1, -1):
            r |= ((index >> 0) & 1) << shift
            g |= ((index >> 1) & 1) << shift
            b |= ((index >> 2) & 1) << shift
            index >>= 3
        colors.append((r, g, b))
    return tuple(colors)


PASCAL_VOC = DatasetInfo(
    name="pascal_voc",
    class_names=(
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ),
    colormap=bit_palette(21),
    ignore_label=255,
    description="PASCAL VOC 2012 segmentation (optionally with the SBD train_aug set): 20 objects + background.",
)

# Cityscapes labelIds (as in gtFine *_labelIds.png) of the 19 evaluated classes -> train ids
# (cityscapesScripts helpers/labels.py); every other label id becomes the ignore label 255.
CITYSCAPES_LABEL_ID_TO_TRAIN_ID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip

CITYSCAPES = DatasetInfo(
    name="cityscapes",
    class_names=(
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
        "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
    ),
    colormap=(
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
        (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
        (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ),
    ignore_label=255,
    description="Cityscapes fine annotations, the 19 evaluated classes as train ids.",
)

ADE20K = DatasetInfo(
    name="ade20k",
    # objectInfo150 of the ADE20K SceneParsing benchmark, in order (first name of each entry).
    class_names=(
        "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
        "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
        "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
        "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion",
        "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
        "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door",
        "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill",
        "bench", "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
        "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight",
        "booth", "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
        "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt",
        "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
        "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave", "pot",
        "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase",
        "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board",
        "shower", "radiator", "glass", "clock", "flag",
    ),
    # Not the benchmark's own colours: a deterministic palette (the VOC bit palette from index 1, so
    # that no class is black). Colours are for display only.
    colormap=bit_palette(151)[1:],
    ignore_label=255,
    description="ADE20K SceneParsing (ADEChallengeData2016): 150 classes; annotation 0 (other) is ignored.",
)

CAMVID = DatasetInfo(
    name="camvid",
    class_names=(
        "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
        "Bicyclist",
    ),
    # The SegNet tutorial's CamVid-11 colours.
    colormap=(
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
        (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
    ),
    ignore_label=11,
    description="CamVid in the SegNet layout: 11 classes; 11 (Unlabelled) is ignored.",
)

SYNTHETIC = DatasetInfo(
    name="synthetic",
    class_names=tuple(synthetic.CLASS_NAMES),
    colormap=tuple(tuple(color) for color in synthetic.COLORMAP),
    ignore_label=synthetic.IGNORE_LABEL,
    description="Generated shapes on clutter (deeplab_tf.data.synthetic); needs no download.",
)

_DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (PASCAL_VOC, CITYSCAPES, ADE20K, CAMVID, SYNTHETIC)}


def list_datasets() -> list[str]:
    """Names of the built-in datasets (a ``folder`` dataset is described by its label map)."""
    return sorted(_DATASETS)


def get_dataset_info(name: str) -> DatasetInfo:
    """The ``DatasetInfo`` of a built-in dataset.

    Raises:
      ValueError: unknown name; the message lists the known ones.
    """
    if name in _DATASETS:
        return _DATASETS[name]
    if name == "folder":
        raise ValueError("a 'folder' dataset takes its classes from a label-map file: use load_label_map(path)")
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}")


def recorded_dataset(data_dir: str | None) -> DatasetInfo | None:
    """The ``DatasetInfo`` that deeplab-convert wrote to ``data_dir/dataset.json``; None without that file.

    Raises:
      ValueError: the file is not a deeplab-convert summary (the message names it).
    """
    import json

    path = os.path.join(data_dir or "", "dataset.json")
    if not data_dir or not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)["dataset"]
        return DatasetInfo(
            name=info["name"],
            class_names=tuple(info["class_names"]),
            colormap=tuple(tuple(int(c) for c in color) for color in info["colormap"]),
            ignore_label=int(info["ignore_label"]),
            description=info.get("description", ""),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} does not describe the dataset as deeplab-convert writes it: {error}") from None


_LABEL_LINE = re.compile(
    r"^(?P<index>\d+)\s+(?P<name>.+?)"
    r"(?:\s+\[?\s*(?P<r>\d+)\s*[,\s]\s*(?P<g>\d+)\s*[,\s]\s*(?P<b>\d+)\s*\]?)?\s*$"
)


def load_label_map(path: str, ignore_label: int = 255) -> DatasetInfo:
    """Reads a label map: one ``index name [r,g,b]`` (or ``index name r g b``) a line.

    Indices must be exactly 0..N-1 (any order). Names may contain spaces; the
    colour is optional (missing ones come from ``bit_palette``). Blank lines and
    ``#`` comments are skipped.

    Args:
      path: the label-map file.
      ignore_label: the mask value that marks pixels to ignore (not a class).

    Raises:
      FileNotFoundError: no such file.
      ValueError: a malformed line (naming file and line), or indices not 0..N-1.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label map {path} does not exist")
    entries: dict[int, tuple[str, Color | None]] = {}
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            match = _LABEL_LINE.match(line)
            if not match:
                raise ValueError(f"{path}:{number}: expected 'index name [r,g,b]', got {raw.strip()!r}")
            index, name = int(match["index"]), match["name"].strip()
            if any(c in name for c in "[],"):
                raise ValueError(f"{path}:{number}: malformed colour (expected r,g,b or r g b), got {raw.strip()!r}")
            color = None
            if match["r"] is not None:
                color = (int(match["r"]), int(match["g"]), int(match["b"]))
                if max(color) > 255:
                    raise ValueError(f"{path}:{number}: colour components must be 0..255, got {color}")
            if index in entries:
                raise ValueError(f"{path}:{number}: index {index} appears twice")
            if any(name == other for other, _ in entries.values()):
                raise ValueError(f"{path}:{number}: class name {name!r} appears twice")
            entries[index] = (name, color)
    if not entries:
        raise ValueError(f"{path}: no classes (expected lines 'index name [r,g,b]')")
    missing = sorted(set(range(len(entries))) - set(entries))
    if missing:
        raise ValueError(f"{path}: class indices must be 0..{len(entries) - 1} without gaps; missing {missing}")
    palette = bit_palette(len(entries))
    try:
        return DatasetInfo(
            name="folder",
            class_names=tuple(entries[i][0] for i in range(len(entries))),
            colormap=tuple(entries[i][1] or palette[i] for i in range(len(entries))),
            ignore_label=ignore_label,
            description=f"classes from the label map {path}",
        )
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
