import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter

from deeplab_tf.configs import BackboneConfig
from deeplab_tf.models.activations import HardSigmoid, HardSwish
from deeplab_tf.models.backbones import build_backbone
from deeplab_tf.quantization import quantize_model, unsupported_layers
from deeplab_tf.quantization.qat import HardSigmoidQuantizeConfig, OutputQuantizeConfig


def randomize(model, seed=0):
    """BN gamma/var in [0.5, 1.5], kernels ~ N(0, 1/fan_in): keeps activations alive."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, v.shape) if i in (0, 3) else rng.normal(0, 0.1, v.shape) for i, v in enumerate(values)])
        elif values:
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            fan_in = [np.prod(v.shape[:2 if depthwise else -1]) if v.ndim > 1 else 100 for v in values]
            layer.set_weights([rng.normal(0, 1 / np.sqrt(f), v.shape) for v, f in zip(values, fan_in, strict=True)])


@pytest.mark.parametrize("name,alpha", [("mobilenet_v3_large", 1.0), ("mobilenet_v2", 0.5)])
def test_quantize_backbone_copy_is_close_and_float_model_untouched(name, alpha):
    backbone = build_backbone(BackboneConfig(name=name, output_stride=16, width_multiplier=alpha), (64, 64))
    randomize(backbone)
    model = keras.Model(backbone.input, backbone.output["C5"])
    layers_before = [(id(layer), layer.name) for layer in model.layers]
    weights_before = model.get_weights()
    assert unsupported_layers(model) == []

    qat = quantize_model(model, input_range=(-1.0, 1.0))

    images = np.random.RandomState(1).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    expected, got = model(images).numpy(), qat(images, training=False).numpy()
    assert got.shape == expected.shape
    # Activation ranges start at tfmot's [-6, 6]: 8-bit steps of 0.047 on activations ~0.3.
    assert np.abs(got - expected).mean() < 0.25 * np.abs(expected).mean()
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.97
    assert [(id(layer), layer.name) for layer in model.layers] == layers_before
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    configs = {type(layer.layer): type(layer.quantize_config) for layer in qat.layers if hasattr(layer, "quantize_config")}
    assert keras.layers.Conv2D in configs and keras.layers.DepthwiseConv2D in configs
    if name == "mobilenet_v3_large":
        assert configs[HardSwish] is configs[keras.layers.Multiply] is OutputQuantizeConfig
        assert configs[HardSigmoid] is HardSigmoidQuantizeConfig
    else:  # only stock layers: the same wrapping as tfmot's own quantize_model
        reference = tfmot.quantization.keras.quantize_model(model)
        assert [type(getattr(layer, "quantize_config", None)) for layer in qat.layers] == [
            type(getattr(layer, "quantize_config", None)) for layer in reference.layers
        ]


def test_qat_squeeze_excite_converts_to_int8_tflite():
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv/BatchNorm")(x)
    x = HardSwish(name="conv/hard_swish")(x)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name="se/AvgPool")(x)
    s = keras.layers.Conv2D(8, 1, name="se/Conv")(s)
    s = keras.layers.ReLU(name="se/Relu")(s)
    s = keras.layers.Conv2D(8, 1, name="se/Conv_1")(s)
    s = HardSigmoid(name="se/hard_sigmoid")(s)
    model = keras.Model(inputs, keras.layers.Multiply(name="se/Mul")([x, s]))
    qat = quantize_model(model, input_range=(-1.0, 1.0))
    qat(np.random.RandomState(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32"), training=True)
    converter = tf.lite.TFLiteConverter.from_keras_model(qat)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    interpreter = Interpreter(model_content=converter.convert())
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    assert "HARD_SWISH" in {op["op_name"] for op in ops}
    for op in ops:  # everything between the input QUANTIZE and output DEQUANTIZE is int8
        if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE"):
            assert all(tensors[i]["dtype"] != np.float32 for i in op["outputs"]), op["op_name"]


def test_unsupported_layers_are_listed_and_rejected():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 1, name="conv")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    x = keras.layers.BatchNormalization(name="lonely_bn")(x)
    model = keras.Model(inputs, x)
    assert unsupported_layers(model) == ["double (Lambda)", "lonely_bn (BatchNormalization)"]
    with pytest.raises(ValueError, match="double"):
        quantize_model(model)
