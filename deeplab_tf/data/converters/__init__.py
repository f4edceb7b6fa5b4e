"""Per-dataset converters: each module lists a split's samples and reads their masks.

Every module exposes ``list_samples(data_dir, split) -> list[Sample]``,
``load_mask(sample) -> uint8 [H, W]`` and ``NUM_SHARDS`` (its default shard
count); ``synthetic`` also ``load_image``. ``convert.convert_dataset`` does the
rest. Classes are in ``deeplab_tf.data.registry``.
"""

from __future__ import annotations

import os
from types import ModuleType

from deeplab_tf.artifacts.errors import ArgumentValueError
from deeplab_tf.data.convert import Sample, convert_dataset
from deeplab_tf.data.converters import ade20k, camvid, cityscapes, folder, pascal_voc, synthetic
from deeplab_tf.data.registry import DatasetInfo, get_dataset_info, load_label_map

CONVERTERS: dict[str, ModuleType] = {
    "pascal_voc": pascal_voc,
    "cityscapes": cityscapes,
    "ade20k": ade20k,
    "camvid": camvid,
    "folder": folder,
    "synthetic": synthetic,
}


def get_converter(name: str) -> ModuleType:
    """The converter module of dataset ``name``.

    Raises:
      ValueError: unknown name; the message lists the known ones.
    """
    if name not in CONVERTERS:
        raise ValueError(f"no converter for dataset {name!r}; converters: {', '.join(sorted(CONVERTERS))}")
    return CONVERTERS[name]


def dataset_info(name: str, label_map: str | None = None) -> DatasetInfo:
    """The classes of dataset ``name``: from the registry, or from ``label_map`` for ``folder``.

    Raises:
      ValueError: unknown name, ``folder`` without a label map, or a label map for another dataset.
    """
    get_converter(name)
    if name == "folder":
        if not label_map:
            raise ArgumentValueError("the folder dataset needs `label_map`=FILE (lines 'index name [r,g,b]')")
        return load_label_map(label_map)
    if label_map:
        raise ArgumentValueError(f"`label_map` is only for the folder dataset; {name}'s classes are in the registry")
    return get_dataset_info(name)


def collect_samples(
    name: str,
    data_dir: str | None,
    splits: list[str],
    num_images: int | None = None,
    image_size: tuple[int, int] | None = None,
) -> dict[str, list[Sample]]:
    """split -> samples for dataset ``name``.

    Args:
      num_images: for ``synthetic``, images generated per split; for the
        others, convert only the first ``num_images`` of each split (a quick trial).
      image_size: (H, W) of ``synthetic`` images.

    Raises:
      ValueError / FileNotFoundError: missing data_dir, bad layout or split.
    """
    module = get_converter(name)
    if name == "synthetic":
        return {split: module.list_samples(data_dir, split, num_images, image_size) for split in splits}
    if image_size is not None:
        raise ArgumentValueError(f"`image_size` is only for the synthetic dataset, not {name}")
    if not data_dir:
        raise ArgumentValueError(f"dataset {name} needs `data_dir` (see datasets/{name}/README.md)")
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data_dir {data_dir} does not exist")
    if num_images is not None and num_images < 1:
        raise ValueError(f"num_images must be at least 1, got {num_images}")
    return {split: module.list_samples(data_dir, split)[:num_images] for split in splits}


def convert(
    name: str,
    data_dir: str | None,
    output_dir: str,
    splits: list[str],
    num_images: int | None = None,
    image_size: tuple[int, int] | None = None,
    label_map: str | None = None,
    num_shards: int | None = None,
    skip_bad: bool = False,
    workers: int | None = None,
) -> dict:
    """Dataset ``name`` (in its distributed layout at ``data_dir``) to TFRecords in ``output_dir``:
    what ``deeplab-convert`` and ``deeplab-demo`` run. Returns ``convert_dataset``'s summary.

    Raises:
      ValueError / FileNotFoundError: as ``dataset_info``, ``collect_samples`` and ``convert_dataset``.
    """
    module = get_converter(name)
    info = dataset_info(name, label_map)
    samples = collect_samples(name, data_dir, splits, num_images, image_size)
    extra = {"load_image": module.load_image} if hasattr(module, "load_image") else {}
    return convert_dataset(
        samples,
        info,
        module.load_mask,
        output_dir,
        num_shards=num_shards or module.NUM_SHARDS,
        skip_bad=skip_bad,
        workers=workers,
        **extra,
    )
