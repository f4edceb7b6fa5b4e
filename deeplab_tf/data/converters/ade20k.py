"""ADE20K SceneParsing (ADEChallengeData2016) -> samples with 150 classes.

Layout (``data_dir`` is ``ADEChallengeData2016`` or its parent)::

  images/{training,validation}/*.jpg
  annotations/{training,validation}/*.png   0 = other (ignored), k = class k-1

Splits: ``train`` -> training, ``val`` -> validation.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from deeplab_tf.data.convert import Sample
from deeplab_tf.data.image_files import read_label_png
from deeplab_tf.data.registry import ADE20K

NUM_SHARDS = 4
SPLIT_FOLDERS = {"train": "training", "val": "validation"}
# 0 -> ignore, k -> k-1; values above 150 map to 150..254 and are reported as bad mask values.
_LUT = np.concatenate([[ADE20K.ignore_label], np.arange(255)]).astype(np.uint8)


def list_samples(data_dir: str, split: str) -> list[Sample]:
    """Every ``images/{folder}/*.jpg``, sorted, with ``annotations/{folder}/{stem}.png``.

    Raises:
      ValueError: unknown split. FileNotFoundError: no images.
    """
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"unknown ADE20K split {split!r}; splits: {', '.join(SPLIT_FOLDERS)}")
    root = data_dir
    if not os.path.isdir(os.path.join(root, "images")):
        root = os.path.join(data_dir, "ADEChallengeData2016")
    folder = SPLIT_FOLDERS[split]
    images = sorted(glob.glob(os.path.join(root, "images", folder, "*.jpg")))
    if not images:
        raise FileNotFoundError(
            f"no images in {os.path.join(root, 'images', folder)}: expected ADEChallengeData2016/"
            "{images,annotations}/{training,validation} (see datasets/ade20k/README.md)"
        )
    samples = []
    for image in images:
        stem = os.path.splitext(os.path.basename(image))[0]
        samples.append(Sample(image, os.path.join(root, "annotations", folder, f"{stem}.png"), stem))
    return samples


def load_mask(sample: Sample) -> np.ndarray:
    return _LUT[read_label_png(sample.mask_source)]
