"""deeplab_tf.export.compare: two exports of one model agree within the stated tolerance whatever
the CPU; any real change (a weight, a scale, a name, an op) is reported, naming where."""

import pathlib

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.export.compare import (
    ACROSS_CPUS,
    EXACT,
    Tolerance,
    bytes_difference,
    differences,
    output_difference,
    ulp_distance,
)
from deeplab_tf.export.flatbuffer import pack_model

MODELS = pathlib.Path(__file__).resolve().parents[2] / "mobile" / "contract" / "models"


def _edit(name: str, change) -> bytes:
    """The committed contract model ``name`` with ``change(model)`` applied."""
    model = schema.ModelT.InitFromPackedBuf((MODELS / name).read_bytes(), 0)
    change(model)
    return pack_model(model)


def _constant(model, dtype: str):
    """The first constant tensor of ``dtype`` with at least 8 elements, and its buffer's values."""
    types = {"float32": schema.TensorType.FLOAT32, "int8": schema.TensorType.INT8, "int32": schema.TensorType.INT32}
    for tensor in model.subgraphs[0].tensors:
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if tensor.type == types[dtype] and data is not None and len(data) >= 8 * np.dtype(dtype).itemsize:
            return tensor, np.array(data, np.uint8).view(dtype)
    raise AssertionError(f"no {dtype} constant in the model")


def _activation(model):
    """The first quantized tensor that no constant fills (an activation)."""
    for tensor in model.subgraphs[0].tensors:
        scale = tensor.quantization.scale if tensor.quantization else None
        if scale is not None and len(scale) == 1 and model.buffers[tensor.buffer].data is None:
            return tensor
    raise AssertionError("no quantized activation in the model")


def _nudge(name: str, dtype: str, amount) -> bytes:
    def change(model):
        tensor, values = _constant(model, dtype)
        if dtype == "float32":
            values[3] = np.float32(amount(values[3]))
        else:
            values[3] = np.clip(values[3].astype(np.int64) + amount, np.iinfo(dtype).min + 3, np.iinfo(dtype).max - 3)
        model.buffers[tensor.buffer].data = values.view(np.uint8)

    return _edit(name, change)


def test_ulp_distance():
    one = np.float32(1.0)
    assert ulp_distance(one, np.nextafter(one, np.float32(2))) == 1
    assert ulp_distance(np.float32(-1e-30), np.float32(1e-30)) > 1e6  # across zero: far
    assert ulp_distance(np.float32(0.0), np.float32(-0.0)) == 0
    assert ulp_distance(np.float32(np.nan), np.float32(np.nan)) > 1e18
    np.testing.assert_array_equal(ulp_distance(np.float32([1, 2]), np.float32([1, 2])), [0, 0])


def test_a_model_equals_itself_and_its_repacking():
    data = (MODELS / "smoke_int8.tflite").read_bytes()
    assert differences(data, data) == []
    assert differences(_edit("smoke_int8.tflite", lambda model: None), data) == []


def test_float_weights_within_ulps():
    original = (MODELS / "smoke_float.tflite").read_bytes()
    one_ulp = _nudge("smoke_float.tflite", "float32", lambda v: np.nextafter(v, np.float32(np.inf)))
    assert differences(one_ulp, original, ACROSS_CPUS) == []
    (line,) = differences(one_ulp, original, EXACT)
    assert "1 ulp apart (allowed 0)" in line and "1 of" in line
    changed = _nudge("smoke_float.tflite", "float32", lambda v: v * 1.001)
    (line,) = differences(changed, original, ACROSS_CPUS)
    assert line.startswith("buffers[") and "tensor '" in line and "allowed 4" in line


def test_quantized_weights_within_a_step():
    original = (MODELS / "smoke_int8.tflite").read_bytes()
    assert differences(_nudge("smoke_int8.tflite", "int8", 1), original, ACROSS_CPUS) == []
    (line,) = differences(_nudge("smoke_int8.tflite", "int8", 3), original, ACROSS_CPUS)
    assert "int8 element" in line and "3 steps apart" in line


def test_scales_relative_and_zero_points_exact():
    original = (MODELS / "smoke_int8.tflite").read_bytes()

    def scale(factor):
        def change(model):
            tensor = _activation(model)
            tensor.quantization.scale = tensor.quantization.scale * np.float32(factor)

        return _edit("smoke_int8.tflite", change)

    assert differences(scale(1 + 2e-6), original, ACROSS_CPUS) == []
    (line,) = differences(scale(1.001), original, ACROSS_CPUS)
    assert ".quantization.scale[0]" in line and "relative difference" in line

    def zero_point(model):
        tensor = _activation(model)
        tensor.quantization.zeroPoint = tensor.quantization.zeroPoint + 1

    (line,) = differences(_edit("smoke_int8.tflite", zero_point), original, Tolerance(100, 1.0, 100))
    assert ".quantization.zeroPoint[0]" in line


def test_structure_names_and_metadata_exact():
    original = (MODELS / "smoke_int8.tflite").read_bytes()
    loose = Tolerance(1000, 1.0, 1000)

    def rename(model):
        model.subgraphs[0].tensors[0].name = b"renamed"

    assert any("tensors[0].name" in line for line in differences(_edit("smoke_int8.tflite", rename), original, loose))

    def drop_op(model):
        model.subgraphs[0].operators.pop()

    assert any("operators" in line for line in differences(_edit("smoke_int8.tflite", drop_op), original, loose))

    def metadata(model):
        index = model.metadata[0].buffer
        data = np.array(model.buffers[index].data, np.uint8)
        data[-1] ^= 1
        model.buffers[index].data = data

    (line,) = differences(_edit("smoke_int8.tflite", metadata), original, loose)
    assert "first difference at byte" in line
    other = (MODELS / "tiny_int8_mask.tflite").read_bytes()
    assert 0 < len(differences(other, original, loose, limit=5)) <= 6


def test_bytes_difference_names_the_first_byte():
    assert bytes_difference(b"abc", b"abc") is None
    message = bytes_difference(b"abcd" * 1000, b"abcd" * 500 + b"abce" + b"abcd" * 499)
    assert "4000 bytes" in message and "first difference at byte 2003: 0x64 against 0x65" in message
    assert "first difference at byte 2: the end against 0x63" in bytes_difference(b"ab", b"abc")


def test_output_difference():
    scores = np.linspace(0, 1, 60, dtype=np.float32).reshape(1, 3, 4, 5)
    assert output_difference(scores + np.float32(4e-6), scores) is None
    moved = scores.copy()
    moved[0, 1, 2, 3] += np.float32(1e-3)
    assert "element (0, 1, 2, 3)" in output_difference(moved, scores) and "1 of 60" in output_difference(moved, scores)
    quantized = np.arange(60, dtype=np.uint8).reshape(1, 3, 4, 5)
    assert output_difference(quantized + 1, quantized) is None
    assert "1 of 60 elements beyond" in output_difference(
        np.where(quantized == 7, 9, quantized).astype(np.uint8), quantized
    )
    assert "uint8[1, 3, 4, 5] against float32" in output_difference(quantized, scores)


@pytest.mark.parametrize("bad", [np.float32(np.nan)])
def test_output_difference_nan_is_beyond(bad):
    scores = np.zeros((1, 2, 2, 3), np.float32)
    assert output_difference(np.where(scores == 0, bad, scores), scores) is not None
