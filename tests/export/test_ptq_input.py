"""int8 PTQ with uint8 input: the input's quantization is the normalization whatever the calibration pixels span."""

import dataclasses

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from deeplab_tf.configs import get_experiment
from deeplab_tf.export.conversion import ConvertOptions, convert
from deeplab_tf.export.inspect import op_histogram, ops
from deeplab_tf.models import build_deeplab
from deeplab_tf.models.backbones.base import get_backbone_spec


@pytest.mark.parametrize("size", [(33, 49)])
def test_dim_calibration_images_leave_no_float_input_pair(size):
    # Calibration pixels span only 20..200: the calibrator's input range then differs from the
    # fake-quant's 0..255, which used to leave QUANTIZE -> DEQUANTIZE -> QUANTIZE (a float tensor).
    config = get_experiment("deeplabv3plus_mnv2_synthetic", smoke=True).model
    model = build_deeplab(dataclasses.replace(config, input_size=size))
    rng = np.random.default_rng(0)
    pixels = rng.integers(20, 201, size=(4, *size, 3)).astype(np.float32)
    options = ConvertOptions(
        "int8_ptq", "uint8", "scores", get_backbone_spec(config.backbone.name).preprocessing, lambda: [pixels]
    )
    tflite = convert(model, options)  # raises if a float tensor is left
    # Two DEQUANTIZE: the input's own (uint8 -> float32 -> int8) and the softmax's
    # (int8 logits -> float32 softmax -> uint8), both for XNNPACK.
    assert op_histogram(tflite).get("DEQUANTIZE", 0) == 2
    # MobileNet's normalization is the input's quantization: no op computes it.
    assert [op["op_name"] for op in ops(tflite)[:3]] == ["DEQUANTIZE", "QUANTIZE", "CONV_2D"]
    interpreter = Interpreter(model_content=tflite)
    (image,) = interpreter.get_input_details()
    assert image["dtype"] == np.uint8 and image["quantization"] == (float(np.float32(1 / 127.5)), 127)
    assert list(image["shape"]) == [1, *size, 3]
