"""Segmentation losses."""

from __future__ import annotations

import tensorflow as tf


def softmax_cross_entropy(labels, logits, ignore_label: int, class_weights=None, top_k_fraction: float = 1.0):
    """Mean per-pixel softmax cross-entropy over pixels not labelled ``ignore_label``.

    Args:
      labels: int [B, H, W] (or [B, H, W, 1]) class ids, ``ignore_label`` for void.
      logits: float [B, H, W, C].
      ignore_label: label value that contributes nothing.
      class_weights: optional float [C] weight per class.
      top_k_fraction: keep only this fraction of the hardest pixels (hard-pixel
        mining, as in DeepLab's ``top_k_percent_pixels``); 1.0 keeps all.

    Returns:
      Scalar float32 loss; 0 when every pixel is ignored.
    """
    return tf.math.divide_no_nan(*cross_entropy_sums(labels, logits, ignore_label, class_weights, top_k_fraction))


def cross_entropy_sums(labels, logits, ignore_label: int, class_weights=None, top_k_fraction: float = 1.0):
    """``(weighted loss sum, weight sum)`` of ``softmax_cross_entropy`` (same
    arguments), whose ratio is the mean. Kept apart so that a distributed step
    can divide by the weight sum of the global batch, not of one replica's."""
    labels = tf.cast(labels, tf.int32)
    if labels.shape.rank == 4:
        labels = tf.squeeze(labels, -1)
    logits = tf.cast(logits, tf.float32)
    num_classes = logits.shape[-1]
    valid = tf.not_equal(labels, ignore_label)
    safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
    tf.debugging.assert_less(
        tf.boolean_mask(safe_labels, valid), num_classes, message="label >= num_classes (and not ignore_label)"
    )
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_labels, logits=logits)
    weights = tf.cast(valid, tf.float32)
    if class_weights is not None:
        weights *= tf.gather(tf.constant(class_weights, tf.float32), safe_labels)
    losses = tf.reshape(losses * weights, [-1])
    weights = tf.reshape(weights, [-1])
    if top_k_fraction < 1.0:
        k = tf.maximum(1, tf.cast(tf.cast(tf.size(losses), tf.float32) * top_k_fraction, tf.int32))
        losses, index = tf.math.top_k(losses, k=k)
        weights = tf.gather(weights, index)
    return tf.reduce_sum(losses), tf.reduce_sum(weights)


def median_frequency_weights(pixel_counts) -> list[float]:
    """Median-frequency balancing (Eigen & Fergus, https://arxiv.org/abs/1411.4734):
    ``w_c = median(f) / f_c`` with ``f_c`` the pixel frequency of class c.
    Classes with no pixels get weight 0 (they contribute nothing anyway).

    Raises:
      ValueError: no class has any pixel.
    """
    counts = [float(c) for c in pixel_counts]
    present = sorted(c for c in counts if c > 0)
    if not present:
        raise ValueError("median-frequency weights need at least one class with pixels")
    total = sum(present)
    middle = len(present) // 2
    median = present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2
    return [median / c if c > 0 else 0.0 for c in counts] if total else []
