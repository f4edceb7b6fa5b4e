"""The tf.train.Example schema of the original DeepLab converters.

Records written here load in the original DeepLab input pipeline and theirs
load here: ``image/encoded`` (JPEG or PNG), ``image/filename``,
``image/format``, ``image/height``, ``image/width``, ``image/channels``,
``image/segmentation/class/encoded`` (PNG, one class id per pixel) and
``image/segmentation/class/format``.
"""

from __future__ import annotations

import tensorflow as tf

IMAGE = "image/encoded"
FILENAME = "image/filename"
IMAGE_FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
CHANNELS = "image/channels"
LABEL = "image/segmentation/class/encoded"
LABEL_FORMAT = "image/segmentation/class/format"


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def make_example(
    image: bytes, image_format: str, label: bytes, filename: str, height: int, width: int, channels: int = 3
) -> tf.train.Example:
    """Builds one record from an encoded image and an encoded PNG label map.

    Args:
      image: JPEG or PNG bytes of the RGB image.
      image_format: "jpeg" or "png" (DeepLab writes "jpeg" / "png").
      label: PNG bytes of the single-channel class-id map.
      filename: the image's name (no directory), kept for reports.
      height, width, channels: image shape.
    """
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                IMAGE: _bytes(image),
                FILENAME: _bytes(filename.encode()),
                IMAGE_FORMAT: _bytes(image_format.encode()),
                HEIGHT: _int(height),
                WIDTH: _int(width),
                CHANNELS: _int(channels),
                LABEL: _bytes(label),
                LABEL_FORMAT: _bytes(b"png"),
            }
        )
    )


FEATURES = {
    IMAGE: tf.io.FixedLenFeature((), tf.string),
    FILENAME: tf.io.FixedLenFeature((), tf.string, default_value=""),
    IMAGE_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="jpeg"),
    HEIGHT: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    WIDTH: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    CHANNELS: tf.io.FixedLenFeature((), tf.int64, default_value=3),
    LABEL: tf.io.FixedLenFeature((), tf.string, default_value=""),
    LABEL_FORMAT: tf.io.FixedLenFeature((), tf.string, default_value="png"),
}


def parse_example(serialized) -> dict:
    """Serialized record -> ``{"image": uint8 [H, W, 3], "label": uint8 [H, W, 1], "filename": str}``.

    A pure function: works eagerly and inside ``Dataset.map``.
    """
    features = tf.io.parse_single_example(serialized, FEATURES)
    image = tf.io.decode_image(features[IMAGE], channels=3, expand_animations=False)
    label = tf.io.decode_png(features[LABEL], channels=1)
    tf.debugging.assert_equal(
        tf.shape(image)[:2], tf.shape(label)[:2], message="image and label sizes differ in a record"
    )
    return {"image": image, "label": label, "filename": features[FILENAME]}
