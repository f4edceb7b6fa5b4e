"""CamVid in the SegNet layout -> samples with 11 classes (11 = Unlabelled, ignored).

Layout::

  {train,val,test}/*.png  {train,val,test}annot/*.png  {train,val,test}.txt

Each line of ``{split}.txt`` is "IMAGE ANNOTATION", absolute paths of the
original distribution (``/SegNet/CamVid/train/x.png``): each is resolved by
its last two path components relative to ``data_dir``.
"""

from __future__ import annotations

import os

import numpy as np

from deeplab_tf.data.convert import Sample
from deeplab_tf.data.image_files import read_label_png

NUM_SHARDS = 4


def _resolve(data_dir: str, path: str) -> str:
    parts = path.replace("\\", "/").rstrip("/").split("/")
    return os.path.join(data_dir, *parts[-2:])


def list_samples(data_dir: str, split: str) -> list[Sample]:
    """The pairs listed in ``data_dir/{split}.txt``.

    Raises:
      FileNotFoundError: no list for ``split``. ValueError: a line without two paths.
    """
    path = os.path.join(data_dir, f"{split}.txt")
    if not os.path.isfile(path):
        known = sorted(f[:-4] for f in os.listdir(data_dir) if f.endswith(".txt")) if os.path.isdir(data_dir) else []
        raise FileNotFoundError(
            f"no split list {path} (SegNet CamVid layout, see datasets/camvid/README.md); "
            f"splits there: {', '.join(known) or 'none'}"
        )
    samples = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValueError(f"{path}:{number}: expected 'IMAGE ANNOTATION', got {line.strip()!r}")
            image, mask = (_resolve(data_dir, field) for field in fields)
            samples.append(Sample(image, mask, os.path.splitext(os.path.basename(image))[0]))
    return samples


def load_mask(sample: Sample) -> np.ndarray:
    """Class ids 0..10 and 11 (Unlabelled) as stored."""
    return read_label_png(sample.mask_source)
