"""inspect: op histograms, tensor types, dilations and the XNNPACK delegation report
on tiny graphs whose answers are known."""

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.export.inspect import conv_dilations, delegation_report, op_histogram, run_tflite, tensor_dtypes


def int8_tflite(fn, shape=(1, 8, 8, 3)):
    concrete = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)]).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], tf.Module())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.random.RandomState(i).uniform(-1, 1, shape).astype("float32")] for i in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


KERNEL = np.random.RandomState(0).normal(0, 0.5, (3, 3, 3, 4)).astype("float32")


def conv(x, rate=1):
    return tf.nn.relu(tf.nn.conv2d(x, KERNEL, 1, "SAME", dilations=rate))


def test_delegation_report_splits_at_an_op_xnnpack_cannot_run():
    # int8 AVERAGE_POOL_2D is not an XNNPACK op: conv | pool | conv makes two partitions.
    kernel = np.random.RandomState(1).normal(0, 0.5, (1, 1, 4, 4)).astype("float32")
    tflite_bytes = int8_tflite(lambda x: tf.nn.conv2d(tf.nn.avg_pool2d(conv(x), 3, 1, "SAME"), kernel, 1, "SAME"))
    assert op_histogram(tflite_bytes) == {"QUANTIZE": 1, "CONV_2D": 2, "AVERAGE_POOL_2D": 1, "DEQUANTIZE": 1}
    report = delegation_report(tflite_bytes)
    assert report["ops"] == 5 and report["delegated_ops"] == 4 and report["partitions"] == 2
    assert report["not_delegated"] == {"AVERAGE_POOL_2D": 1} and report["fraction"] == 0.8
    assert [name for _, name in report["not_delegated_nodes"]] == ["AVERAGE_POOL_2D"]


def test_delegation_report_of_a_fully_delegated_graph():
    tflite_bytes = int8_tflite(lambda x: tf.reduce_mean(conv(x), axis=(1, 2), keepdims=True))
    report = delegation_report(tflite_bytes)
    assert report["partitions"] == 1 and report["fraction"] == 1.0 and report["not_delegated"] == {}


def test_tensor_dtypes_conv_dilations_and_run():
    tflite_bytes = int8_tflite(lambda x: conv(x, rate=2))
    assert conv_dilations(tflite_bytes) == [("CONV_2D", 2, 2)]
    dtypes = tensor_dtypes(tflite_bytes)
    kinds = {(t["dtype"], t["constant"]) for t in dtypes.values()}
    assert ("int8", True) in kinds and ("int32", True) in kinds  # weights, bias
    assert ("int8", False) in kinds and ("float32", False) in kinds  # activations, float ends
    image = np.random.RandomState(5).uniform(-1, 1, (8, 8, 3)).astype("float32")
    expected = conv(image[None], rate=2).numpy()
    got = run_tflite(tflite_bytes, image)
    assert got.shape == (1, 8, 8, 4) and np.abs(got - expected).max() < 0.05 * np.abs(expected).max()
    with pytest.raises(ValueError):
        run_tflite(tflite_bytes, image[:4])
