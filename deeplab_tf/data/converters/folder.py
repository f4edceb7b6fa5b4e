"""Your own dataset: a folder of images and class-id masks, paired by file stem.

Layout, either with split lists::

  images/NAME.{jpg,png,...}   masks/NAME.png   splits/{train,val}.txt (one NAME a line)

or with one subfolder per split::

  images/{train,val}/NAME.jpg   masks/{train,val}/NAME.png

Masks are 8-bit grayscale or palette PNGs holding class ids (a palette PNG's
index is the class). Classes come from a label-map file (``registry.load_label_map``).
"""

from __future__ import annotations

import os

import numpy as np

from deeplab_tf.data.convert import Sample
from deeplab_tf.data.image_files import read_label_png

NUM_SHARDS = 4
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
LAYOUT = (
    "expected DATA_DIR/images/NAME.jpg + DATA_DIR/masks/NAME.png with DATA_DIR/splits/{split}.txt "
    "listing NAMEs, or DATA_DIR/images/{split}/ + DATA_DIR/masks/{split}/ (see datasets/folder/README.md)"
)


def _images_by_stem(folder: str) -> dict[str, str]:
    images: dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(folder, name)):
            if stem in images:
                raise ValueError(f"{folder}: two images named {stem!r} ({os.path.basename(images[stem])}, {name})")
            images[stem] = os.path.join(folder, name)
    return images


def list_samples(data_dir: str, split: str) -> list[Sample]:
    """Samples of ``split`` from ``splits/{split}.txt`` or the ``images/{split}/`` subfolder.

    A listed name without an image, or an image without a mask, becomes a
    sample whose missing file is reported when it is converted.

    Raises:
      FileNotFoundError: neither layout is there; the message explains both.
    """
    split_file = os.path.join(data_dir, "splits", f"{split}.txt")
    if os.path.isfile(split_file):
        images_dir, masks_dir = os.path.join(data_dir, "images"), os.path.join(data_dir, "masks")
        if not os.path.isdir(images_dir):
            raise FileNotFoundError(f"{images_dir} does not exist: {LAYOUT}")
        images = _images_by_stem(images_dir)
        with open(split_file, encoding="utf-8") as f:
            stems = [line.strip() for line in f if line.strip()]
    elif all(os.path.isdir(os.path.join(data_dir, kind, split)) for kind in ("images", "masks")):
        images_dir, masks_dir = os.path.join(data_dir, "images", split), os.path.join(data_dir, "masks", split)
        images = _images_by_stem(images_dir)
        stems = list(images)
    else:
        raise FileNotFoundError(f"no split {split!r} in {data_dir}: {LAYOUT}")
    return [
        Sample(images.get(stem, os.path.join(images_dir, f"{stem}.*")), os.path.join(masks_dir, f"{stem}.png"), stem)
        for stem in stems
    ]


def load_mask(sample: Sample) -> np.ndarray:
    return read_label_png(sample.mask_source)
