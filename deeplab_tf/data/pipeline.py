"""tf.data input pipelines: sharded TFRecords -> augmented, normalized batches.

Training: shards interleaved, records shuffled, parsed, randomly scaled,
padded (image with the mean pixel, label with the ignore label), cropped,
flipped, optionally colour-jittered, normalized, batched and prefetched, all
with AUTOTUNE parallelism. Every sample's randomness comes from
``(seed, sample index)``, so ``deterministic=True`` gives identical batches run
after run. Evaluation: full images in file order, padded to a fixed size.
Both take a ``tf.distribute.InputContext`` and shard files by worker.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import tensorflow as tf

from deeplab_tf.artifacts.errors import ArgumentValueError
from deeplab_tf.data import augment, schema
from deeplab_tf.data.schema import parse_example

if TYPE_CHECKING:  # data sits below configs: the pipeline reads a DataConfig's fields, named here for readers
    from deeplab_tf.configs.base import DataConfig

AUTOTUNE = tf.data.AUTOTUNE


def list_record_files(data_dir: str, split: str) -> list[str]:
    """The ``{split}-*.tfrecord`` shards in ``data_dir``, sorted.

    Raises:
      FileNotFoundError: none match; the message says how to make them.
    """
    if not data_dir:
        raise ArgumentValueError("data_dir is not set: pass `data_dir`=DIR (a folder of TFRecords from deeplab-convert)")
    pattern = os.path.join(data_dir, f"{split}-*.tfrecord")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(
            f"no TFRecords match {pattern}; convert the dataset first: "
            f"deeplab-convert --dataset=NAME --data_dir=SOURCE --output_dir={data_dir}"
        )
    return files


def _shard(files: list[str], batch_size: int, input_context):
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if input_context is None:
        return dataset, batch_size
    if len(files) < input_context.num_input_pipelines:
        raise ValueError(
            f"{len(files)} shard file(s) cannot feed {input_context.num_input_pipelines} input pipelines; "
            "convert with deeplab-convert --num_shards of at least the number of workers"
        )
    dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return dataset, input_context.get_per_replica_batch_size(batch_size)


def _options(deterministic: bool) -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = deterministic
    options.autotune.enabled = True
    return options


def training_images(data: DataConfig, preprocessing, count: int, seed: int = 0) -> list:
    """The normalized images of the first ``count`` training batches (augmented, same every time):
    what calibration and batch-norm statistics are measured on."""
    if count < 1:
        raise ValueError(f"need at least 1 training batch, got {count}")
    dataset = train_dataset(data, preprocessing, seed=seed, deterministic=True)
    return [batch["image"] for batch in dataset.take(count)]


def train_dataset(
    data: DataConfig,
    preprocessing,
    input_context=None,
    seed: int = 0,
    deterministic: bool = False,
    start_index: int = 0,
) -> tf.data.Dataset:
    """The endless training dataset of ``{"image": float32 [B, h, w, 3], "label": uint8 [B, h, w, 1]}``.

    Args:
      data: data config (data_dir, train_split, crop_size, batch_size, scales...).
      preprocessing: the backbone's ``Preprocessing`` (mean, std).
      input_context: optional ``tf.distribute.InputContext``; files are sharded
        by input pipeline and the batch is the per-replica batch.
      seed: base seed of shuffling and augmentation.
      deterministic: same batches, in the same order, on every run.
      start_index: records of this pipeline already consumed (exact resume:
        the stream continues where a run with the same seed stopped).

    Raises:
      FileNotFoundError / ValueError: no records, or too few shards for the workers.
    """
    files = list_record_files(data.data_dir, data.train_split)
    dataset, batch_size = _shard(files, data.batch_size, input_context)
    dataset = dataset.shuffle(len(files), seed=seed).repeat()
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 4),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    dataset = dataset.shuffle(data.shuffle_buffer, seed=seed).enumerate().skip(start_index)
    crop = tuple(data.crop_size)

    def load(index, record):
        sample = parse_example(record)
        sample_seed = tf.stack([tf.cast(seed, tf.int64), index])
        sample = augment.augment_for_training(
            sample,
            sample_seed,
            crop,
            data.min_scale,
            data.max_scale,
            preprocessing.mean,
            data.ignore_label,
            data.photometric_jitter,
            data.random_flip,
        )
        sample = augment.normalize(sample, preprocessing.mean, preprocessing.std)
        return {"image": sample["image"], "label": sample["label"]}

    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(AUTOTUNE).with_options(_options(deterministic))


def largest_image(data_dir: str, split: str) -> tuple[int, int]:
    """(max height, max width) over the records of ``split``, read from their size fields.

    Raises:
      FileNotFoundError: no records of ``split``; ValueError: the split is empty.
    """
    features = {key: tf.io.FixedLenFeature([], tf.int64) for key in (schema.HEIGHT, schema.WIDTH)}
    dataset = tf.data.TFRecordDataset(list_record_files(data_dir, split), num_parallel_reads=AUTOTUNE).batch(256)
    height, width = 0, 0
    for parsed in dataset.map(lambda records: tf.io.parse_example(records, features)):
        height = max(height, int(tf.reduce_max(parsed[schema.HEIGHT])))
        width = max(width, int(tf.reduce_max(parsed[schema.WIDTH])))
    if not height:
        raise ValueError(f"split {split!r} in {data_dir} has no records")
    return height, width


def pad_for_eval(sample: dict, size, pad_pixel, ignore_label: int) -> dict:
    """Pads a full image to ``size`` (mean pixel / ignore label) and keeps its
    original ``height`` and ``width``; an image larger than ``size`` fails
    with a message naming the file."""
    shape = tf.shape(sample["image"])[:2]
    fits = tf.reduce_all(shape <= tf.constant(size, tf.int32))
    check = tf.debugging.Assert(
        fits, ["image larger than the evaluation size", sample.get("filename", ""), shape, "eval_size", size]
    )
    with tf.control_dependencies([check]):
        padded = augment.pad_to_size(
            {**sample, "image": tf.cast(sample["image"], tf.float32)}, size, pad_pixel, ignore_label
        )
    image = tf.ensure_shape(padded["image"], (*size, 3))
    label = tf.ensure_shape(padded["label"], (*size, 1))
    return {**padded, "image": image, "label": label, "height": shape[0], "width": shape[1]}


def eval_dataset(data: DataConfig, preprocessing, eval_size, input_context=None, split: str | None = None):
    """Full images of ``split`` (default ``data.eval_split``) in file order, padded
    to ``eval_size``, normalized, batched (the last batch may be smaller).

    Yields ``{"image", "label", "height", "width", "filename"}``.
    """
    files = list_record_files(data.data_dir, split or data.eval_split)
    dataset, batch_size = _shard(files, data.batch_size, input_context)
    dataset = dataset.flat_map(tf.data.TFRecordDataset)
    size = tuple(eval_size)

    def load(record):
        sample = pad_for_eval(parse_example(record), size, preprocessing.mean, data.ignore_label)
        return augment.normalize(sample, preprocessing.mean, preprocessing.std)

    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(AUTOTUNE).with_options(_options(True))
