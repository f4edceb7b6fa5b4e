"""Training augmentation as pure functions on ``{"image", "label", ...}`` dicts.

Every random op is stateless (``tf.random.stateless_*``) and takes a seed
tensor of shape [2], so a given seed gives the same sample eagerly, inside
``Dataset.map`` and under parallel map. (keras-cv's augmentation layers draw
from a stateful generator, which makes batches irreproducible under a
parallel map; they are not used here for that reason.)

Images are float32 in [0, 255] until ``normalize``; labels are uint8
[H, W, 1] and are only ever resized nearest-neighbour.
"""

from __future__ import annotations

import tensorflow as tf


def _split(seed, n: int):
    return tf.unstack(tf.random.experimental.stateless_split(seed, n))


def random_scale(sample: dict, seed, min_scale: float, max_scale: float) -> dict:
    """Resizes image (bilinear) and label (nearest) by a factor in [min_scale, max_scale]."""
    if min_scale == max_scale == 1.0:
        return sample
    scale = tf.random.stateless_uniform((), seed, min_scale, max_scale)
    shape = tf.cast(tf.shape(sample["image"])[:2], tf.float32)
    size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
    image = tf.image.resize(sample["image"], size, method="bilinear")
    label = tf.image.resize(sample["label"], size, method="nearest")
    return {**sample, "image": image, "label": tf.cast(label, sample["label"].dtype)}


def pad_to_size(sample: dict, size, pad_pixel, ignore_label: int) -> dict:
    """Pads bottom/right to at least ``size``: the image with ``pad_pixel``
    (the mean pixel, which normalizes to 0), the label with ``ignore_label``."""
    shape = tf.shape(sample["image"])[:2]
    target = tf.maximum(shape, tf.constant(size, tf.int32))
    paddings = [[0, target[0] - shape[0]], [0, target[1] - shape[1]], [0, 0]]
    pad_pixel = tf.constant(pad_pixel, tf.float32)
    image = tf.pad(sample["image"] - pad_pixel, paddings) + pad_pixel
    label = tf.pad(tf.cast(sample["label"], tf.int32) - ignore_label, paddings) + ignore_label
    return {**sample, "image": image, "label": tf.cast(label, sample["label"].dtype)}


def random_crop(sample: dict, seed, size) -> dict:
    """Crops image and label at the same random offset to exactly ``size``."""
    height, width = size
    shape = tf.shape(sample["image"])[:2]
    seed_y, seed_x = _split(seed, 2)
    top = tf.random.stateless_uniform((), seed_y, 0, shape[0] - height + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform((), seed_x, 0, shape[1] - width + 1, dtype=tf.int32)
    image = sample["image"][top : top + height, left : left + width]
    label = sample["label"][top : top + height, left : left + width]
    image = tf.ensure_shape(image, (height, width, 3))
    label = tf.ensure_shape(label, (height, width, 1))
    return {**sample, "image": image, "label": label}


def random_flip(sample: dict, seed) -> dict:
    """Flips image and label left-right together with probability 1/2."""
    flip = tf.random.stateless_uniform((), seed) < 0.5
    image = tf.cond(flip, lambda: tf.reverse(sample["image"], [1]), lambda: sample["image"])
    label = tf.cond(flip, lambda: tf.reverse(sample["label"], [1]), lambda: sample["label"])
    return {**sample, "image": image, "label": label}


def photometric_jitter(sample: dict, seed, strength: float = 0.2) -> dict:
    """Random brightness, contrast, saturation and hue; the label is untouched."""
    if strength <= 0:
        return sample
    s1, s2, s3, s4 = _split(seed, 4)
    image = sample["image"] / 255.0
    image = tf.image.stateless_random_brightness(image, strength * 0.5, s1)
    image = tf.image.stateless_random_contrast(image, 1 - strength, 1 + strength, s2)
    image = tf.image.stateless_random_saturation(image, 1 - strength, 1 + strength, s3)
    image = tf.image.stateless_random_hue(image, min(strength * 0.1, 0.5), s4)
    return {**sample, "image": tf.clip_by_value(image, 0.0, 1.0) * 255.0}


def normalize(sample: dict, mean, std) -> dict:
    """``(image - mean) / std``: the one preprocessing definition, read from the
    backbone's ``Preprocessing`` by training, evaluation, export and the apps."""
    image = (tf.cast(sample["image"], tf.float32) - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
    return {**sample, "image": image}


def augment_for_training(
    sample: dict, seed, crop_size, min_scale, max_scale, pad_pixel, ignore_label, jitter=0.0, flip=True
):
    """scale -> pad -> crop -> flip -> jitter, each with its own derived seed."""
    seeds = _split(seed, 4)
    sample = {**sample, "image": tf.cast(sample["image"], tf.float32)}
    sample = random_scale(sample, seeds[0], min_scale, max_scale)
    sample = pad_to_size(sample, crop_size, pad_pixel, ignore_label)
    sample = random_crop(sample, seeds[1], crop_size)
    if flip:
        sample = random_flip(sample, seeds[2])
    return photometric_jitter(sample, seeds[3], jitter)
