"""PASCAL VOC 2012 (and the SBD-augmented ``train_aug`` set) -> samples.

Layout (``data_dir`` is ``VOCdevkit``'s parent, ``VOCdevkit``, or ``VOC2012`` itself)::

  VOC2012/JPEGImages/*.jpg
  VOC2012/SegmentationClass/*.png      palette PNGs: the palette INDEX is the class, 255 = boundary (ignored)
  VOC2012/SegmentationClassAug/*.png   grayscale class ids (train_aug only)
  VOC2012/ImageSets/Segmentation/{train,val,trainval,train_aug}.txt
"""

from __future__ import annotations

import os

import numpy as np

from deeplab_tf.data.convert import Sample
from deeplab_tf.data.image_files import read_label_png

NUM_SHARDS = 4
_LAYOUT = "expected VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation} (see datasets/pascal_voc/README.md)"


def find_root(data_dir: str) -> str:
    """The VOC2012 folder among ``data_dir``, ``data_dir/VOC2012``, ``data_dir/VOCdevkit/VOC2012``."""
    for root in (data_dir, os.path.join(data_dir, "VOC2012"), os.path.join(data_dir, "VOCdevkit", "VOC2012")):
        if os.path.isdir(os.path.join(root, "JPEGImages")):
            return root
    raise FileNotFoundError(f"no PASCAL VOC 2012 in {data_dir}: {_LAYOUT}")


def list_samples(data_dir: str, split: str) -> list[Sample]:
    """Samples of ``ImageSets/Segmentation/{split}.txt`` (one image stem a line, or "IMAGE MASK" paths).

    Raises:
      FileNotFoundError: not a VOC folder, or no list for ``split`` (the message names the ones there).
    """
    root = find_root(data_dir)
    lists = os.path.join(root, "ImageSets", "Segmentation")
    path = os.path.join(lists, f"{split}.txt")
    if not os.path.isfile(path):
        known = sorted(f[:-4] for f in os.listdir(lists) if f.endswith(".txt")) if os.path.isdir(lists) else []
        raise FileNotFoundError(f"no split list {path}; splits there: {', '.join(known) or 'none'}")
    masks = os.path.join(root, "SegmentationClassAug" if split == "train_aug" else "SegmentationClass")
    samples = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                stem = os.path.splitext(os.path.basename(line.split()[0]))[0]
                image = os.path.join(root, "JPEGImages", f"{stem}.jpg")
                samples.append(Sample(image, os.path.join(masks, f"{stem}.png"), stem))
    return samples


def load_mask(sample: Sample) -> np.ndarray:
    """Palette indices (SegmentationClass) or gray values (SegmentationClassAug): 0..20, 255."""
    return read_label_png(sample.mask_source)
