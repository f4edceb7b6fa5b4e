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
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.reduce_sum(weights))
