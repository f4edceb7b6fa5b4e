import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.evaluation.metrics import ConfusionMatrix, confusion_matrix_tf, metrics_from_matrix

IGNORE = 255


def reference(labels, predictions, num_classes, ignore=IGNORE):
    """Pixel-by-pixel loops: the definitions, not the fast code."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    for t, p in zip(np.ravel(labels), np.ravel(predictions), strict=True):
        if t != ignore:
            matrix[int(t), int(p)] += 1
    ious = {}
    for c in range(num_classes):
        tp = matrix[c, c]
        union = matrix[c, :].sum() + matrix[:, c].sum() - tp
        ious[c] = None if union == 0 else tp / union
    present = [v for v in ious.values() if v is not None]
    return matrix, ious, sum(present) / len(present)


def result_of(labels, predictions, num_classes, names=None):
    cm = ConfusionMatrix(num_classes, IGNORE)
    cm.update(labels, predictions)
    return cm, cm.result(names)


def test_matches_reference_on_random_batches():
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 5, (3, 17, 23)).astype(np.uint8)
    labels[rng.rand(*labels.shape) < 0.2] = IGNORE
    predictions = rng.randint(0, 5, (3, 17, 23))
    cm, result = result_of(labels, predictions, 5)
    matrix, ious, miou = reference(labels, predictions, 5)
    np.testing.assert_array_equal(cm.matrix, matrix)
    assert cm.matrix.dtype == np.int64
    assert result["miou"] == pytest.approx(miou)
    assert result["per_class_iou"] == pytest.approx({f"class_{c}": v for c, v in ious.items()})
    assert result["pixel_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    recall = np.diag(matrix) / matrix.sum(1)
    assert result["mean_accuracy"] == pytest.approx(recall.mean())
    freq = matrix.sum(1) / matrix.sum()
    assert result["frequency_weighted_iou"] == pytest.approx(sum(freq[c] * ious[c] for c in range(5)))


def test_ignore_label_never_counts():
    labels = np.array([[0, IGNORE, IGNORE], [1, IGNORE, 1]])
    predictions = np.array([[0, 1, 2], [1, 2, 0]])
    cm, result = result_of(labels, predictions, 3)
    assert cm.matrix.sum() == 3 and result["num_pixels"] == 3
    np.testing.assert_array_equal(cm.matrix, [[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    # Whatever is predicted under the ignore label changes nothing.
    other, _ = result_of(labels, np.where(labels == IGNORE, 0, predictions), 3)
    np.testing.assert_array_equal(cm.matrix, other.matrix)


def test_class_absent_from_labels_and_predictions_is_left_out_of_the_mean():
    labels = np.array([0, 0, 1, 1])
    predictions = np.array([0, 1, 1, 1])
    _, result = result_of(labels, predictions, 3, ["a", "b", "c"])
    assert result["per_class_iou"] == {"a": pytest.approx(0.5), "b": pytest.approx(2 / 3), "c": None}
    assert result["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert result["present_classes"] == ["a", "b"]


def test_class_only_in_predictions_has_iou_zero_and_counts():
    labels = np.array([0, 0, 0, 0])
    predictions = np.array([0, 0, 0, 2])
    _, result = result_of(labels, predictions, 3)
    assert result["per_class_iou"] == {"class_0": pytest.approx(0.75), "class_1": None, "class_2": 0.0}
    assert result["miou"] == pytest.approx(0.75 / 2)
    assert result["present_classes"] == ["class_0", "class_2"]


@pytest.mark.parametrize("cls", [0, 3])
def test_all_one_class_images(cls):
    labels = np.full((2, 8, 8), cls, np.uint8)
    _, right = result_of(labels, labels.astype(np.int64), 4)
    assert right["miou"] == 1.0 and right["present_classes"] == [f"class_{cls}"]
    wrong = np.full_like(labels, (cls + 1) % 4)
    _, result = result_of(labels, wrong, 4)
    assert result["miou"] == 0.0 and result["pixel_accuracy"] == 0.0 and len(result["present_classes"]) == 2


def test_perfect_prediction_gives_one():
    labels = np.random.RandomState(1).randint(0, 6, (4, 9, 9))
    _, result = result_of(labels, labels, 6)
    for key in ("miou", "pixel_accuracy", "mean_accuracy", "frequency_weighted_iou"):
        assert result[key] == pytest.approx(1.0)


def test_streaming_and_merge_equal_one_update():
    rng = np.random.RandomState(2)
    labels, predictions = rng.randint(0, 4, (6, 10, 10)), rng.randint(0, 4, (6, 10, 10))
    whole, _ = result_of(labels, predictions, 4)
    first, second = ConfusionMatrix(4, IGNORE), ConfusionMatrix(4, IGNORE)
    for i in range(3):
        first.update(tf.constant(labels[i]), tf.constant(predictions[i]))
        second.update(labels[i + 3], predictions[i + 3])
    np.testing.assert_array_equal(first.merge(second).matrix, whole.matrix)
    with pytest.raises(ValueError, match="cannot merge"):
        first.merge(ConfusionMatrix(5, IGNORE))


def test_labels_outside_the_classes_raise_naming_the_value():
    cm = ConfusionMatrix(3, IGNORE)
    with pytest.raises(ValueError, match=r"label value\(s\) \[7\]"):
        cm.update(np.array([0, 7, IGNORE]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"prediction value\(s\) \[3\]"):
        cm.update(np.array([0, 1]), np.array([0, 3]))
    with pytest.raises(ValueError, match="sizes|values but"):
        cm.update(np.array([0, 1]), np.array([0]))
    assert cm.matrix.sum() == 0


def test_empty_matrix_has_no_metrics():
    result = ConfusionMatrix(3, IGNORE).result()
    assert result["miou"] is None and result["present_classes"] == []
    assert set(result["per_class_iou"].values()) == {None}
    with pytest.raises(ValueError, match="2 class names"):
        metrics_from_matrix(np.zeros((3, 3)), ["a", "b"])


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_tf_helper_equals_numpy(mode):
    rng = np.random.RandomState(3)
    labels = rng.randint(0, 5, (2, 13, 11, 1)).astype(np.uint8)
    labels[rng.rand(*labels.shape) < 0.3] = IGNORE
    predictions = rng.randint(0, 5, (2, 13, 11)).astype(np.int32)
    cm, _ = result_of(labels, predictions, 5)

    def fn(t, p):
        return confusion_matrix_tf(t, p, 5, IGNORE, check_labels=mode != "xla")

    if mode != "eager":
        fn = tf.function(fn, jit_compile=mode == "xla")
    out = fn(tf.constant(labels), tf.constant(predictions))
    assert out.dtype == tf.int64
    np.testing.assert_array_equal(out.numpy(), cm.matrix)


def test_tf_helper_rejects_labels_outside_the_classes():
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be class ids"):
        confusion_matrix_tf(tf.constant([0, 9]), tf.constant([0, 1]), 3, IGNORE)
