"""The generated dataset of ``deeplab_tf.data.synthetic``: no files, no download.

Split seeds are fixed (train 0, val 1, test 2), so a split is the same on every machine.
"""

from __future__ import annotations

import functools

import numpy as np

from deeplab_tf.data import synthetic
from deeplab_tf.data.convert import Sample
from deeplab_tf.data.image_files import encode_rgb_png

NUM_SHARDS = 2
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}
DEFAULT_NUM_IMAGES = {"train": 400, "val": 100, "test": 100}
DEFAULT_IMAGE_SIZE = (128, 128)


def list_samples(
    data_dir: str | None, split: str, num_images: int | None = None, image_size: tuple[int, int] | None = None
) -> list[Sample]:
    """``num_images`` samples of ``split`` (default: train 400, val/test 100) of ``image_size`` (H, W).

    ``data_dir`` is not used. Raises ValueError for an unknown split or a non-positive count.
    """
    del data_dir
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown synthetic split {split!r}; splits: {', '.join(SPLIT_SEEDS)}")
    count = DEFAULT_NUM_IMAGES[split] if num_images is None else int(num_images)
    if count < 1:
        raise ValueError(f"num_images must be at least 1, got {count}")
    size = tuple(int(v) for v in (image_size or DEFAULT_IMAGE_SIZE))
    return [Sample(None, (SPLIT_SEEDS[split], index, size), f"{split}_{index:05d}") for index in range(count)]


@functools.lru_cache(maxsize=4)
def _generate(seed: int, index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return synthetic.generate(seed, index, size)


def load_image(sample: Sample) -> bytes:
    image, _ = _generate(*sample.mask_source)
    return encode_rgb_png(image)


def load_mask(sample: Sample) -> np.ndarray:
    return _generate(*sample.mask_source)[1]
