"""pack_model(): the same model, each distinct vector written once, buffers aligned."""

import functools

import flatbuffers
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.export.flatbuffer import BYTES_ALIGNMENT, pack_model
from deeplab_tf.export.inspect import run_tflite


@functools.cache
def int8_model() -> bytes:
    """Converter output of three 8-filter convolutions, int8 per channel: the same
    zero points (8 int64 zeros) for each kernel and bias."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16, 16, 3))] + [keras.layers.Conv2D(8, 3, padding="same", activation="relu") for _ in range(3)]
    )
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.normal(size=(1, 16, 16, 3)).astype(np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def plain_pack(tflite_bytes: bytes) -> bytes:
    builder = flatbuffers.Builder(len(tflite_bytes))
    builder.Finish(schema.ModelT.InitFromPackedBuf(tflite_bytes, 0).Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tensors(tflite_bytes: bytes) -> list[tuple]:
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    result = []
    for tensor in model.subgraphs[0].tensors:
        q = tensor.quantization
        data = model.buffers[tensor.buffer].data
        result.append(
            (
                tensor.name,
                tensor.type,
                list(tensor.shape),
                None if data is None else bytes(data),
                None if q is None or q.scale is None else (list(q.scale), list(q.zeroPoint), q.quantizedDimension),
            )
        )
    return result


def vector_starts(tflite_bytes: bytes):
    """Byte positions of every constant buffer's data and every zero-point vector."""
    model = schema.Model.GetRootAs(tflite_bytes, 0)
    buffers = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            buffers.append((buffer._tab.Vector(buffer._tab.Offset(4)), buffer.DataLength()))
    zero_points = []
    subgraph = model.Subgraphs(0)
    for i in range(subgraph.TensorsLength()):
        q = subgraph.Tensors(i).Quantization()
        if q is not None and q.ZeroPointLength() > 1:
            zero_points.append(q._tab.Vector(q._tab.Offset(10)))
    return buffers, zero_points


def test_the_packed_model_has_the_same_tensors_and_computes_the_same():
    raw = int8_model()
    packed = pack_model(schema.ModelT.InitFromPackedBuf(raw, 0), len(raw))
    assert tensors(packed) == tensors(raw)
    image = np.random.default_rng(1).normal(size=(1, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_tflite(packed, image), run_tflite(raw, image))


def test_repeated_zero_points_are_written_once_and_buffers_start_aligned():
    raw = int8_model()
    packed, plain = pack_model(schema.ModelT.InitFromPackedBuf(raw, 0), len(raw)), plain_pack(raw)
    buffers, zero_points = vector_starts(packed)
    # 3 kernels and 3 biases with 8 per-channel zero points each: one vector for all six.
    assert len(zero_points) == 6 and len(set(zero_points)) == 1
    assert len(set(vector_starts(plain)[1])) == 6
    assert len(plain) - len(packed) >= 5 * 8 * 8
    assert all(start % BYTES_ALIGNMENT == 0 for start, length in buffers if length >= BYTES_ALIGNMENT)


def test_identical_buffers_share_their_bytes_but_stay_separate_buffers():
    model = schema.ModelT.InitFromPackedBuf(int8_model(), 0)
    weights = next(b for b in model.buffers if b.data is not None and len(b.data) > 100)
    copy = schema.BufferT()
    copy.data = np.array(weights.data)
    model.buffers.append(copy)
    packed = pack_model(model)
    starts = dict(vector_starts(packed)[0])
    reader = schema.Model.GetRootAs(packed, 0)
    assert reader.BuffersLength() == len(model.buffers)
    assert len(starts) == len(vector_starts(pack_model(schema.ModelT.InitFromPackedBuf(int8_model(), 0)))[0])
    np.testing.assert_array_equal(reader.Buffers(len(model.buffers) - 1).DataAsNumpy(), weights.data)


@pytest.mark.parametrize("size_hint", [1, 1 << 20])
def test_the_builder_grows_past_a_small_size_hint(size_hint):
    raw = int8_model()
    assert tensors(pack_model(schema.ModelT.InitFromPackedBuf(raw, 0), size_hint)) == tensors(raw)
