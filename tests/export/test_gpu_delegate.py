"""gpu_delegate_report: the GPU delegate's op conditions, checked on tiny graphs built
to pass or break one condition each (the project's exports: tests/export/test_tflite.py)."""

import flatbuffers
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.export.gpu_delegate import gpu_delegate_report


def tflite(fn, shape=(1, 8, 8, 4), dtype=tf.float32):
    concrete = tf.function(fn, input_signature=[tf.TensorSpec(shape, dtype, name="x")]).get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()


def conv(x, channels=4, dilation=1):
    kernel = tf.constant(np.random.RandomState(0).normal(size=(3, 3, x.shape[-1], channels)), tf.float32)
    return tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME", dilations=dilation))


def reasons(report):
    return [f"{name}: {reason}" for _, name, reason in report["unsupported_nodes"]]


def set_resize_options(tflite_bytes, **fields):
    """Sets ResizeBilinearOptions fields in the flatbuffer (TensorFlow refuses some combinations)."""
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    for op in model.subgraphs[0].operators:
        if isinstance(op.builtinOptions, schema.ResizeBilinearOptionsT):
            for field, value in fields.items():
                setattr(op.builtinOptions, field, value)
    builder = flatbuffers.Builder(len(tflite_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_a_segmentation_head_is_supported_whole():
    def head(x):
        pooled = tf.reduce_mean(conv(x), axis=[1, 2], keepdims=True)
        features = tf.concat([conv(x, dilation=2), tf.image.resize(pooled, [8, 8])], axis=-1)
        logits = tf.image.resize(conv(features, 3), [16, 16], method="bilinear")
        return tf.nn.softmax(tf.pad(logits, [[0, 0], [1, 1], [1, 1], [0, 0]]))

    report = gpu_delegate_report(tflite(head))
    assert report["ops"] >= 8 and report["supported_ops"] == report["ops"], reasons(report)
    assert report["unsupported"] == {} and report["at_ends"]


def test_uint8_input_cast_and_fused_argmax_stay_at_the_ends():
    def mask(x):
        return tf.cast(tf.argmax(conv(tf.cast(x, tf.float32)), -1, output_type=tf.int32), tf.uint8)

    report = gpu_delegate_report(tflite(mask, dtype=tf.uint8))
    assert reasons(report) == [
        "CAST: UINT8 -> FLOAT32 is not among its casts",
        "ARG_MAX: not an op of the GPU delegate",
        "CAST: INT32 -> UINT8 is not among its casts",
    ]
    assert report["supported_ops"] == report["ops"] - 3 and report["at_ends"]


def test_an_unsupported_op_inside_the_graph_is_not_at_the_ends():
    def argmax_inside(x):
        ids = tf.cast(tf.argmax(conv(x), -1, output_type=tf.int32), tf.float32)
        return conv(x * ids[..., None])

    report = gpu_delegate_report(tflite(argmax_inside))
    assert "ARG_MAX: not an op of the GPU delegate" in reasons(report) and not report["at_ends"]


@pytest.mark.parametrize(
    "fn,reason",
    [
        (lambda x: tf.reduce_mean(conv(x), axis=-1), "MEAN: MEAN over axes [-1]"),
        (lambda x: conv(x)[:, 0], "STRIDED_SLICE: STRIDED_SLICE with an ellipsis, new-axis or shrink-axis mask"),
        (lambda x: tf.gather_nd(conv(x), [[0, 1, 2]]), "GATHER_ND: not an op of the GPU delegate"),
    ],
)
def test_op_conditions(fn, reason):
    report = gpu_delegate_report(tflite(tf.autograph.experimental.do_not_convert(fn)))
    assert [r for r in reasons(report) if r.startswith(reason)] and report["at_ends"], reasons(report)


def test_resize_options_and_softmax_beta_are_read_from_the_flatbuffer():
    def resize(x):
        return tf.nn.softmax(tf.compat.v1.image.resize_bilinear(conv(x), [16, 16], align_corners=True))

    plain = tflite(resize)
    assert gpu_delegate_report(plain)["unsupported"] == {}
    both = set_resize_options(plain, alignCorners=True, halfPixelCenters=True)
    assert reasons(gpu_delegate_report(both)) == ["RESIZE_BILINEAR: align_corners together with half_pixel_centers"]
    model = schema.ModelT.InitFromPackedBuf(plain, 0)
    (softmax,) = [op for op in model.subgraphs[0].operators if isinstance(op.builtinOptions, schema.SoftmaxOptionsT)]
    softmax.builtinOptions.beta = 2.0
    builder = flatbuffers.Builder(len(plain) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    assert reasons(gpu_delegate_report(bytes(builder.Output()))) == ["SOFTMAX: softmax beta 2.0 != 1"]
