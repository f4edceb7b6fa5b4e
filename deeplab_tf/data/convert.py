"""Writes a segmentation dataset as sharded TFRecords of ``schema`` tf.Examples.

``convert_dataset`` takes the samples of each split, a ``DatasetInfo`` and the
dataset's ``load_mask`` and writes ``OUTPUT_DIR/{split}-{i:05d}-of-{n:05d}.tfrecord``
(the original DeepLab naming). Images keep their encoded bytes when JPEG or PNG
(other formats are re-encoded as PNG); masks are stored as PNG. Samples are
checked and encoded on all cores, in a deterministic order, so that the same
inputs give byte-identical shards.

Every sample is checked: image and mask decode fully (truncated files are
found), sizes agree, and every mask value is a class id or the ignore label.
A bad sample stops the run with an error naming the file, or, with
``skip_bad``, is left out and listed in the summary.

Shards are written under temporary names and renamed only once every split
has succeeded; on failure none stays. Old shards of a converted split with
another shard count are removed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import itertools
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from deeplab_tf.artifacts.errors import ArgumentValueError
from deeplab_tf.artifacts.files import write_json_atomic
from deeplab_tf.data.image_files import BadFileError, decode_color, encode_png, read_bytes
from deeplab_tf.data.registry import DatasetInfo

SHARD_PATTERN = "{split}-{index:05d}-of-{count:05d}.tfrecord"


class BadSampleError(ArgumentValueError, BadFileError):
    """A sample's bad file, when ``skip_bad`` (which the message names) is off."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """One image and where its mask comes from (a path, or what a generator needs)."""

    image_path: str | None
    mask_source: Any
    name: str


def shard_names(split: str, count: int) -> list[str]:
    return [SHARD_PATTERN.format(split=split, index=i, count=count) for i in range(count)]


def read_image_file(sample: Sample) -> bytes:
    """The default ``load_image``: the encoded bytes of ``sample.image_path``."""
    return read_bytes(str(sample.image_path), "image")


@dataclasses.dataclass(frozen=True)
class _Job:
    load_mask: Callable[[Sample], np.ndarray]
    load_image: Callable[[Sample], bytes]
    num_classes: int
    ignore_label: int


@dataclasses.dataclass
class _Encoded:
    name: str
    error: str | None = None
    image: bytes = b""
    image_format: str = ""
    label: bytes = b""
    height: int = 0
    width: int = 0
    histogram: np.ndarray | None = None


def _mask_name(sample: Sample) -> str:
    source = sample.mask_source
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"mask of {sample.name}"


def _encode(sample: Sample, job: _Job) -> _Encoded:
    """Checks one sample and returns what its record holds, or the error naming the bad file."""
    image_name = str(sample.image_path) if sample.image_path is not None else sample.name
    try:
        data = job.load_image(sample)
        image, fmt = decode_color(data, image_name)
        if fmt is None:  # BMP, TIFF, WebP...: stored as PNG, which every decoder reads
            data, fmt = encode_png(image), "png"
        mask = job.load_mask(sample)
        if mask.ndim != 2 or mask.dtype != np.uint8:
            raise BadFileError(f"{_mask_name(sample)}: mask must be uint8 [H, W], got {mask.dtype} {mask.shape}")
        if mask.shape != image.shape[:2]:
            raise BadFileError(
                f"{_mask_name(sample)}: mask is {mask.shape[0]}x{mask.shape[1]} but its image "
                f"{image_name} is {image.shape[0]}x{image.shape[1]} (HxW)"
            )
        histogram = np.bincount(mask.ravel(), minlength=256)
        bad = [int(v) for v in np.flatnonzero(histogram) if v >= job.num_classes and v != job.ignore_label]
        if bad:
            raise BadFileError(
                f"{_mask_name(sample)}: mask values {bad} are neither class ids "
                f"(0..{job.num_classes - 1}) nor the ignore label {job.ignore_label}"
            )
    except (BadFileError, OSError, cv2.error) as error:
        message = str(error) if isinstance(error, BadFileError) else f"{image_name}: {error}"
        return _Encoded(sample.name, error=message)
    return _Encoded(sample.name, None, data, fmt, encode_png(mask), mask.shape[0], mask.shape[1], histogram)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # parallelism comes from the processes


class _Progress:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self, label: str, total: int, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled
        self.done, self.start, self.shown = 0, time.monotonic(), -1.0
        self.tty = enabled and sys.stderr.isatty()

    def update(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and (now - self.shown >= 0.2 or self.done == self.total):
            self.shown = now
            sys.stderr.write("\r" + self._line(now))
        elif not self.tty and self.done * 10 // self.total != (self.done - 1) * 10 // self.total:
            sys.stderr.write(self._line(now) + "\n")
        sys.stderr.flush()

    def _line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else 0.0
        filled = 30 * self.done // self.total
        return (
            f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} "
            f"{rate:.1f} img/s, {elapsed:.0f}s elapsed, {eta:.0f}s left"
        )

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _write_split(split, samples, results, output_dir, num_shards, info, skip_bad, temp_files, progress):
    """Consumes the ordered ``results`` of ``samples`` into temporary shards; returns the split summary."""
    import tensorflow as tf  # only in the writing process, never in the workers

    from deeplab_tf.data import schema

    count = max(1, min(num_shards, len(samples)))
    histogram = np.zeros(256, np.int64)
    skipped, written = [], 0
    bar = _Progress(split, len(samples), progress)
    names = shard_names(split, count)
    for index, name in enumerate(names):
        temp = os.path.join(output_dir, f".{name}.tmp-{os.getpid()}")
        temp_files[temp] = os.path.join(output_dir, name)
        with tf.io.TFRecordWriter(temp) as writer:
            # Shard i holds samples [i*n//count, (i+1)*n//count): sizes differ by at most one.
            size = (index + 1) * len(samples) // count - index * len(samples) // count
            for encoded in itertools.islice(results, size):
                bar.update()
                if encoded.error is not None:
                    if not skip_bad:
                        raise BadSampleError(
                            f"{encoded.error} (sample {encoded.name!r} of split {split!r}; "
                            "`skip_bad` skips and lists bad samples)"
                        )
                    skipped.append({"name": encoded.name, "error": encoded.error})
                    continue
                example = schema.make_example(
                    encoded.image, encoded.image_format, encoded.label, encoded.name, encoded.height, encoded.width
                )
                writer.write(example.SerializeToString(deterministic=True))
                histogram += encoded.histogram
                written += 1
    bar.close()
    if written == 0:
        raise ValueError(f"split {split!r}: all {len(samples)} samples are bad; nothing to write")
    return {
        "images": written,
        "skipped": skipped,
        "shards": names,
        "class_pixels": {name: int(histogram[i]) for i, name in enumerate(info.class_names)},
        "ignore_pixels": int(histogram[info.ignore_label]),
    }


def _remove_stale_shards(output_dir: str, split: str, keep: Sequence[str]) -> None:
    """Removes ``{split}-*-of-*.tfrecord`` left by an earlier run with another shard count."""
    prefix = f"{split}-"
    for name in os.listdir(output_dir):
        if name.startswith(prefix) and name.endswith(".tfrecord") and name not in keep:
            rest = name[len(prefix) : -len(".tfrecord")]
            if len(rest) == 14 and rest[5:9] == "-of-" and rest[:5].isdigit() and rest[9:].isdigit():
                os.remove(os.path.join(output_dir, name))


def convert_dataset(
    splits: dict[str, Sequence[Sample]],
    info: DatasetInfo,
    load_mask: Callable[[Sample], np.ndarray],
    output_dir: str,
    num_shards: int = 4,
    skip_bad: bool = False,
    load_image: Callable[[Sample], bytes] = read_image_file,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Converts every split to TFRecord shards and writes ``dataset.json``; returns the summary.

    Args:
      splits: split name -> samples, in record order.
      info: the dataset's classes and ignore label (masks are checked against them).
      load_mask: ``sample -> uint8 [H, W]`` class ids / ignore label; raises
        ``BadFileError`` for a missing or unreadable mask. A module-level
        function (it runs in worker processes).
      output_dir: created if needed.
      num_shards: shards per split (fewer when a split has fewer samples).
      skip_bad: leave out bad samples and list them in the summary instead of failing.
      load_image: ``sample -> encoded image bytes``; reads ``image_path`` by default.
      workers: processes that check and encode samples; None = all cores, 1 = in-process.
      progress: print a progress bar (stderr) and the summary (stdout).

    Returns:
      ``{"dataset", "output_dir", "splits": {split: {"images", "skipped", "shards",
      "class_pixels", "ignore_pixels"}}}``.

    Raises:
      BadFileError (a ValueError): a bad sample, naming its file (unless ``skip_bad``).
      ValueError: no samples, bad arguments, or every sample of a split bad.
    """
    if not splits:
        raise ValueError("no splits to convert")
    for split, samples in splits.items():
        if not samples:
            raise ValueError(f"split {split!r} has no samples")
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    workers = workers or os.cpu_count() or 1
    os.makedirs(output_dir, exist_ok=True)
    job = _Job(load_mask, load_image, info.num_classes, info.ignore_label)
    encode = functools.partial(_encode, job=job)
    temp_files: dict[str, str] = {}
    summary = {"dataset": info.name, "output_dir": os.path.abspath(output_dir), "splits": {}}
    pool = None
    try:
        if workers > 1:
            pool = concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
            )
        for split, samples in splits.items():
            chunk = max(1, min(16, len(samples) // (4 * workers)))
            results = pool.map(encode, samples, chunksize=chunk) if pool else map(encode, samples)
            summary["splits"][split] = _write_split(
                split, samples, iter(results), output_dir, num_shards, info, skip_bad, temp_files, progress
            )
        for temp, final in temp_files.items():
            os.replace(temp, final)
        for split, result in summary["splits"].items():
            _remove_stale_shards(output_dir, split, result["shards"])
        write_json_atomic(os.path.join(output_dir, "dataset.json"), {"dataset": info.to_dict(), "summary": summary})
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for temp in temp_files:
            if os.path.exists(temp):
                os.remove(temp)
    if progress:
        print(format_summary(summary, info))
    return summary


def format_summary(summary: dict, info: DatasetInfo) -> str:
    """The summary as text: images per split, skipped samples, class pixel histogram."""
    splits = summary["splits"]
    lines = [f"{summary['dataset']} -> {summary['output_dir']}"]
    for split, result in splits.items():
        lines.append(
            f"  {split}: {result['images']} images in {len(result['shards'])} shard(s), "
            f"{len(result['skipped'])} skipped"
        )
        lines.extend(f"    skipped {item['name']}: {item['error']}" for item in result["skipped"])
    width = max(len(name) for name in info.class_names)
    lines.append(f"  {'pixels per class':<{width + 4}} " + "".join(f"{split:>22}" for split in splits))
    totals = {split: max(1, sum(r["class_pixels"].values()) + r["ignore_pixels"]) for split, r in splits.items()}
    rows = [(f"{i:3d} {name:<{width}}", name) for i, name in enumerate(info.class_names)]
    rows.append((f"ign {'(ignore ' + str(info.ignore_label) + ')':<{width}}", None))
    for label, name in rows:
        cells = []
        for split, result in splits.items():
            count = result["class_pixels"][name] if name is not None else result["ignore_pixels"]
            cells.append(f"{count:>14,} {100 * count / totals[split]:5.1f}%")
        lines.append(f"  {label} " + "".join(f"{cell:>22}" for cell in cells))
    return "\n".join(lines)
