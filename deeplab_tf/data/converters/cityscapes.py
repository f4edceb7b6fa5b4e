"""Cityscapes (fine annotations) -> samples with the 19 train ids.

Layout (``data_dir`` holds both folders)::

  leftImg8bit/{train,val,test}/CITY/*_leftImg8bit.png
  gtFine/{train,val,test}/CITY/*_gtFine_labelIds.png
"""

from __future__ import annotations

import glob
import os

import numpy as np

from deeplab_tf.data.convert import Sample
from deeplab_tf.data.image_files import read_label_png
from deeplab_tf.data.registry import CITYSCAPES, CITYSCAPES_LABEL_ID_TO_TRAIN_ID

NUM_SHARDS = 10
_SUFFIX = "_leftImg8bit.png"
_LUT = np.full(256, CITYSCAPES.ignore_label, np.uint8)
for _label_id, _train_id in CITYSCAPES_LABEL_ID_TO_TRAIN_ID.items():
    _LUT[_label_id] = _train_id


def list_samples(data_dir: str, split: str) -> list[Sample]:
    """Every ``leftImg8bit/{split}/*/*_leftImg8bit.png``, sorted, with its gtFine labelIds PNG.

    Raises:
      FileNotFoundError: no images for ``split``.
    """
    images = sorted(glob.glob(os.path.join(data_dir, "leftImg8bit", split, "*", f"*{_SUFFIX}")))
    if not images:
        raise FileNotFoundError(
            f"no {os.path.join(data_dir, 'leftImg8bit', split, 'CITY', '*' + _SUFFIX)}: expected Cityscapes "
            "leftImg8bit/ and gtFine/ in data_dir (see datasets/cityscapes/README.md)"
        )
    samples = []
    for image in images:
        city = os.path.basename(os.path.dirname(image))
        stem = os.path.basename(image)[: -len(_SUFFIX)]
        mask = os.path.join(data_dir, "gtFine", split, city, f"{stem}_gtFine_labelIds.png")
        samples.append(Sample(image, mask, stem))
    return samples


def load_mask(sample: Sample) -> np.ndarray:
    """labelIds -> train ids 0..18; every other label id -> 255."""
    return _LUT[read_label_png(sample.mask_source)]
