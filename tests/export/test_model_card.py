"""The model card: built from the flatbuffer's tensors, validated field by field,
written and read back; a card that disagrees with its model is rejected."""

import copy
import functools
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.model_card import (
    FORMAT,
    build_model_card,
    file_names,
    labels_text,
    read_model_card,
    tensor_contract,
    validate_model_card,
    write_model_card,
)
from deeplab_tf.export.conversion import ConvertOptions, convert
from deeplab_tf.models.backbones.base import MINUS_ONE_TO_ONE

SIZE = (8, 10)
CLASSES = ("road", "car", "tree", "sky")
COLORS = ((128, 64, 128), (0, 0, 142), (107, 142, 35), (70, 130, 180))
# An int8 MobileNet's uint8 input: pixels fed as they are, whose quantization is the normalization.
MOBILENET_INPUT = {"scale": float(np.float32(1 / 127.5)), "zero_point": 127}


def tiny_model():
    image = keras.Input((*SIZE, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="features")(image)
    logits = keras.layers.Conv2D(len(CLASSES), 1, name="logits")(x)
    return keras.Model(image, logits)


@functools.cache
def exported(quantization="none", output="scores", input_dtype="uint8"):
    pixels = np.random.RandomState(0).randint(0, 256, (4, *SIZE, 3)).astype(np.float32)
    pixels[0, 0, 0], pixels[0, 0, 1] = 0, 255  # the calibration covers the whole uint8 range
    calibration = pixels if input_dtype == "uint8" else (pixels - 127.5) / 127.5
    options = ConvertOptions(quantization, input_dtype, output, MINUS_ONE_TO_ONE, lambda: [calibration])
    return convert(tiny_model(), options)


def card_of(tflite_bytes, **overrides):
    fields = dict(
        stem="tiny",
        name="tiny",
        version="step7",
        experiment="tiny:smoke",
        description="a two-layer test model",
        class_names=CLASSES,
        colormap=COLORS,
        ignore_label=255,
        quantization="none",
        mean=MINUS_ONE_TO_ONE.mean,
        std=MINUS_ONE_TO_ONE.std,
    )
    fields.update(overrides)
    return build_model_card(tflite_bytes, **fields)


def test_float_scores_card_matches_the_tensors():
    tflite_bytes = exported()
    card = card_of(tflite_bytes, metrics={"dataset": "x", "split": "val", "miou": 0.5, "per_class_iou": {"road": 0.5}})
    assert card["format"] == FORMAT and card["model_file"] == "tiny.tflite" and card["labels_file"] == "tiny_labels.txt"
    assert card["input"] == {
        "height": 8,
        "width": 10,
        "channels": 3,
        "color": "RGB",
        "dtype": "uint8",
        "layout": "NHWC",
        "normalization": {"mean": [127.5] * 3, "std": [127.5] * 3},
        "quantization": {"scale": 1.0, "zero_point": 0},  # the raw pixels, DEQUANTIZEd in the graph
        "resize": "stretch",
    }
    assert card["output"] == {"kind": "scores", "dtype": "float32", "shape": [1, 8, 10, 4], "quantization": None}
    assert card["classes"][1] == {"id": 1, "name": "car", "color": [0, 0, 142]}
    assert card["size_bytes"] == len(tflite_bytes) and card["latency_ms"] is None
    assert list(card) == list(json.loads(json.dumps(card)))  # JSON types only


@pytest.mark.parametrize(
    "quantization,output,input_dtype,expected_input,expected_output",
    [
        ("int8_ptq", "scores", "uint8", ("uint8", MOBILENET_INPUT), ("uint8", [1, 8, 10, 4])),
        ("int8_ptq", "mask", "uint8", ("uint8", MOBILENET_INPUT), ("uint8", [1, 8, 10])),
        ("none", "mask", "float32", ("float32", None), ("uint8", [1, 8, 10])),
    ],
)
def test_card_of_int8_mask_and_float_input(quantization, output, input_dtype, expected_input, expected_output):
    tflite_bytes = exported(quantization, output, input_dtype)
    card = card_of(tflite_bytes, quantization=quantization)
    assert (card["input"]["dtype"], card["input"]["quantization"]) == expected_input
    assert (card["output"]["dtype"], card["output"]["shape"]) == expected_output
    assert card["output"]["kind"] == output
    if quantization == "int8_ptq" and output == "scores":
        assert card["output"]["quantization"] == {"scale": 1 / 256, "zero_point": 0}


def test_write_and_read_back(tmp_path):
    tflite_bytes = exported()
    card = card_of(tflite_bytes, latency_ms={"threads": 2, "xnnpack_median": 1.25})
    path = tmp_path / file_names("tiny")["card"]
    write_model_card(path, card)
    assert read_model_card(path) == card
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.json"]  # no temporary file left
    assert labels_text(CLASSES) == "road\ncar\ntree\nsky\n"


def _set(card, dotted, value):
    *path, last = dotted.split(".")
    target = card
    for key in path:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if isinstance(target, list) else last] = value


@pytest.mark.parametrize(
    "dotted,value,message",
    [
        ("format", "deeplab_tf.model_card/2", "format must be"),
        ("version", KeyError, "missing keys ['version']"),
        ("quantization", "int4", "quantization must be one of"),
        ("input.dtype", "int16", "input.dtype must be uint8 or float32"),
        ("input.resize", "letterbox", "input.resize must be 'stretch'"),
        ("input.normalization.std", [1.0, 0.0, 1.0], "std must be positive"),
        ("input.quantization", {"scale": 0, "zero_point": 0}, "positive scale"),
        ("output.kind", "logits", "output.kind must be scores or mask"),
        ("output.shape", [1, 8, 10, 5], "output.shape must be [1, 8, 10, 4]"),
        ("classes.2.id", 7, "classes[2].id must be 2"),
        ("classes.0.color", [0, 0, 256], "classes[0].color must be [r, g, b] in 0..255"),
        ("classes.3.name", "", "classes[3].name must be"),
        ("ignore_label", 2, "ignore_label must be null or an integer in 4..255"),
        ("metrics", {"dataset": "x", "split": "val", "miou": 1.5, "per_class_iou": {}}, "metrics.miou must be in 0..1"),
        ("latency_ms", {"threads": 0, "xnnpack_median": 3.0}, "latency_ms needs integer threads"),
        ("size_bytes", 0, "size_bytes must be a positive integer"),
    ],
)
def test_validate_names_the_bad_field(dotted, value, message):
    card = copy.deepcopy(card_of(exported()))
    _set(card, dotted, value)
    with pytest.raises(ValueError, match="model card") as error:
        validate_model_card(card)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "dotted,value,message",
    [
        ("input.dtype", "float32", "input.dtype is 'float32' but the model has 'uint8'"),
        ("input.height", 9, "input.height is 9 but the model has 8"),
        ("size_bytes", 12345, "size_bytes is 12345 but the model has"),
    ],
)
def test_validate_against_the_model(dotted, value, message):
    tflite_bytes = exported()
    card = copy.deepcopy(card_of(tflite_bytes))
    _set(card, dotted, value)
    if dotted == "input.height":
        card["output"]["shape"][1] = 9  # consistent in itself, not with the model
    validate_model_card(card)  # the format alone is fine
    with pytest.raises(ValueError, match="but the model has") as error:
        validate_model_card(card, tflite_bytes)
    assert message in str(error.value)


def test_a_card_for_another_model_is_rejected():
    with pytest.raises(ValueError, match="output.dtype is 'float32' but the model has 'uint8'"):
        validate_model_card(card_of(exported()), exported("none", "mask", "uint8"))


def test_build_rejects_labels_that_do_not_fit():
    with pytest.raises(ValueError, match=r"output.shape must be \[1, 8, 10, 3\]"):
        card_of(exported(), class_names=CLASSES[:3], colormap=COLORS[:3])


def test_tensor_contract_rejects_non_segmentation_models():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 2, strides=2)])
    tflite_bytes = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(ValueError, match="at the input size"):
        tensor_contract(tflite_bytes)


def test_read_model_card_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_model_card(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        read_model_card(tmp_path / "bad.json")


def test_released_weights_are_named_with_their_license():
    tflite_bytes = exported()
    weights = {"source": "deeplabv3_257_mv_gpu.tflite", "sha256": "ab" * 32, "license": "Apache-2.0"}
    assert card_of(tflite_bytes, weights=weights)["weights"] == weights
    assert card_of(tflite_bytes)["weights"] is None  # trained here from scratch
    with pytest.raises(ValueError, match=r"weights: missing keys \['license'\]"):
        card_of(tflite_bytes, weights={"source": "x.tflite", "sha256": None})
    with pytest.raises(ValueError, match="weights needs a source name"):
        card_of(tflite_bytes, weights={"source": 3, "sha256": None, "license": None})
