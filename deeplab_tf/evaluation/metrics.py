"""Streaming confusion matrix and the segmentation metrics read from it.

Rows are ground truth, columns prediction. Pixels labelled ``ignore_label``
never count. A class that appears neither in the labels nor in the
predictions has no IoU (``None``) and is left out of the mean, as in the
PASCAL VOC and Cityscapes benchmarks; a class that appears only in the
predictions has IoU 0 and does count.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class ConfusionMatrix:
    """An int64 [C, C] confusion matrix accumulated batch by batch.

    Args:
      num_classes: number of classes C; class ids are 0..C-1.
      ignore_label: label value whose pixels are skipped.
    """

    def __init__(self, num_classes: int, ignore_label: int):
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def reset(self) -> None:
        self.matrix[:] = 0

    def update(self, labels, predictions) -> None:
        """Adds one batch (any shape; NumPy arrays or tensors of the same size).

        Raises:
          ValueError: sizes differ, a label is neither a class id nor the
            ignore label, or a prediction is not a class id (the message names
            the values).
        """
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        predictions = np.asarray(predictions).reshape(-1).astype(np.int64)
        if labels.size != predictions.size:
            raise ValueError(f"labels have {labels.size} values but predictions {predictions.size}")
        keep = labels != self.ignore_label
        labels, predictions = labels[keep], predictions[keep]
        classes = self.num_classes
        for name, values in (("label", labels), ("prediction", predictions)):
            bad = (values < 0) | (values >= classes)
            if bad.any():
                found = np.unique(values[bad])[:10].tolist()
                raise ValueError(
                    f"{name} value(s) {found} are not class ids 0..{classes - 1}"
                    + (f" nor the ignore label {self.ignore_label}" if name == "label" else "")
                )
        counts = np.bincount(labels * classes + predictions, minlength=classes * classes)
        self.matrix += counts.reshape(classes, classes)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Adds the counts of ``other`` (e.g. another worker's) and returns self.

        Raises:
          ValueError: different class counts or ignore labels.
        """
        if (other.num_classes, other.ignore_label) != (self.num_classes, self.ignore_label):
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix (ignore {other.ignore_label}) into a "
                f"{self.num_classes}-class one (ignore {self.ignore_label})"
            )
        self.matrix += other.matrix
        return self

    def result(self, class_names=None) -> dict:
        """The metrics of the counts so far; see ``metrics_from_matrix``."""
        return metrics_from_matrix(self.matrix, class_names)


def metrics_from_matrix(matrix, class_names=None) -> dict:
    """Segmentation metrics of a [C, C] confusion matrix (rows truth, columns prediction).

    Args:
      matrix: the counts.
      class_names: C names; default ``class_0`` ... ``class_{C-1}``.

    Returns:
      ``miou``: mean IoU over the present classes; ``per_class_iou``: {name:
      IoU, or None when the class is in neither labels nor predictions};
      ``pixel_accuracy``; ``mean_accuracy`` (mean recall over classes in the
      labels); ``frequency_weighted_iou``; ``present_classes`` (names, in
      class order); ``num_pixels``. The scalar metrics are None when no pixel
      was counted.

    Raises:
      ValueError: ``class_names`` does not have C entries.
    """
    matrix = np.asarray(matrix, np.int64)
    classes = matrix.shape[0]
    names = [f"class_{i}" for i in range(classes)] if class_names is None else [str(n) for n in class_names]
    if len(names) != classes:
        raise ValueError(f"{len(names)} class names for a {classes}-class confusion matrix")
    true_positive = np.diag(matrix).astype(np.float64)
    in_labels = matrix.sum(axis=1).astype(np.float64)
    in_predictions = matrix.sum(axis=0).astype(np.float64)
    union = in_labels + in_predictions - true_positive
    present = union > 0
    total = float(in_labels.sum())
    iou = np.divide(true_positive, union, out=np.zeros(classes), where=present)
    recall = np.divide(true_positive, in_labels, out=np.zeros(classes), where=in_labels > 0)
    if total > 0:
        miou = float(iou[present].mean())
        pixel_accuracy = float(true_positive.sum() / total)
        mean_accuracy = float(recall[in_labels > 0].mean())
        frequency_weighted_iou = float((in_labels / total * iou).sum())
    else:
        miou = pixel_accuracy = mean_accuracy = frequency_weighted_iou = None
    return {
        "miou": miou,
        "per_class_iou": {name: float(iou[i]) if present[i] else None for i, name in enumerate(names)},
        "pixel_accuracy": pixel_accuracy,
        "mean_accuracy": mean_accuracy,
        "frequency_weighted_iou": frequency_weighted_iou,
        "present_classes": [name for i, name in enumerate(names) if present[i]],
        "num_pixels": int(total),
    }


def confusion_matrix_tf(labels, predictions, num_classes: int, ignore_label: int, check_labels: bool = True):
    """The int64 [C, C] confusion matrix of one batch, as graph ops (usable in a tf.function).

    Gives the same counts as ``ConfusionMatrix.update``. Pixels whose label or
    prediction is outside 0..C-1 are never counted; with ``check_labels`` a
    label that is neither a class id nor ``ignore_label`` fails a
    ``tf.debugging`` assertion (turn it off under XLA, which drops asserts).

    Args:
      labels: integer tensor, any shape.
      predictions: integer tensor with as many values.
      num_classes: C.
      ignore_label: label value to skip.
      check_labels: assert that every label is a class id or the ignore label.
    """
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
    not_ignored = tf.not_equal(labels, ignore_label)
    label_ok = (labels >= 0) & (labels < num_classes)
    prediction_ok = (predictions >= 0) & (predictions < num_classes)
    checks = []
    if check_labels:
        checks.append(
            tf.debugging.Assert(
                tf.reduce_all(label_ok | ~not_ignored),
                ["labels must be class ids 0 ..", num_classes - 1, "or the ignore label", ignore_label],
            )
        )
    with tf.control_dependencies(checks):
        keep = not_ignored & label_ok & prediction_ok
        # Skipped pixels go to one extra bucket, dropped below: static shapes, XLA-friendly.
        cells = num_classes * num_classes
        index = tf.where(keep, labels * num_classes + predictions, cells)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(index), index, cells + 1)
    return tf.reshape(counts[:cells], [num_classes, num_classes])
