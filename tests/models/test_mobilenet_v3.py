import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter

from deeplab_tf.configs import BackboneConfig
from deeplab_tf.models.activations import HardSigmoid, HardSwish
from deeplab_tf.models.backbones import build_backbone, feature_strides, get_backbone_spec
from deeplab_tf.models.backbones.base import MINUS_ONE_TO_ONE
from deeplab_tf.models.backbones.mobilenet_v3 import keras_application
from deeplab_tf.models.backbones.pretrained import transfer_weights

CHANNELS = {
    "mobilenet_v3_large": {"C2": 24, "C3": 40, "C4": 112, "C5": 960},
    "mobilenet_v3_small": {"C2": 16, "C3": 24, "C4": 48, "C5": 576},
    # research/deeplab's seg variants: depthwise outputs of the same blocks; the last stage halved
    "mobilenet_v3_large_seg": {"C2": 72, "C3": 120, "C4": 672, "C5": 480},
    "mobilenet_v3_small_seg": {"C2": 16, "C3": 88, "C4": 144, "C5": 288},
}
# keras.applications layer whose output each level equals (C5: the model output).
KERAS_LEVELS = {
    "mobilenet_v3_large": {"C2": "expanded_conv_2/Add", "C3": "expanded_conv_5/Add", "C4": "expanded_conv_11/Add"},
    "mobilenet_v3_small": {"C2": "expanded_conv/project/BatchNorm", "C3": "expanded_conv_2/Add", "C4": "expanded_conv_7/Add"},
}
STOCK = (
    keras.layers.InputLayer, keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.BatchNormalization,
    keras.layers.ReLU, keras.layers.Add, keras.layers.GlobalAveragePooling2D, keras.layers.Multiply,
    HardSwish, HardSigmoid,
)


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


@pytest.mark.parametrize("name", list(CHANNELS))
@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_levels_have_the_stated_strides_and_channels(name, output_stride):
    model = build_backbone(BackboneConfig(name=name, output_stride=output_stride), (65, 65))
    assert feature_strides(model) == {"C2": 4, "C3": 8, "C4": min(16, output_stride), "C5": output_stride}
    assert {level: t.shape[-1] for level, t in model.output.items()} == CHANNELS[name]
    assert all(isinstance(layer, STOCK) for layer in model.layers)  # no Lambda / TFOpLambda


def test_even_input_size():
    model = build_backbone(BackboneConfig(name="mobilenet_v3_small", output_stride=16), (64, 64))
    assert feature_strides(model) == {"C2": 4, "C3": 8, "C4": 16, "C5": 16}


@pytest.mark.parametrize("name,alpha", [("mobilenet_v3_large", 1.0), ("mobilenet_v3_small", 0.75)])
@pytest.mark.parametrize("size", [65, 64])
def test_equals_keras_applications_at_output_stride_32(name, alpha, size):
    ours = build_backbone(BackboneConfig(name=name, output_stride=32, width_multiplier=alpha), (size, size))
    theirs = keras_application(name, alpha, None, input_shape=(size, size, 3))
    randomize(theirs)
    copied = transfer_weights(theirs, ours)
    assert len(copied) == len([layer for layer in theirs.layers if layer.weights])
    outputs = [theirs.get_layer(layer).output for layer in KERAS_LEVELS[name].values()] + [theirs.output]
    images = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    expected = dict(zip(["C2", "C3", "C4", "C5"], keras.Model(theirs.input, outputs)(images), strict=True))
    got = ours(images)
    for level in expected:
        assert np.abs(expected[level]).mean() > 0.05, level
        np.testing.assert_allclose(got[level].numpy(), expected[level].numpy(), rtol=1e-4, atol=1e-4, err_msg=level)


def test_dilation_replaces_stride_past_the_output_stride():
    model = build_backbone(BackboneConfig(name="mobilenet_v3_large", output_stride=8), (65, 65))
    layer = model.get_layer
    assert layer("expanded_conv_6/depthwise").strides == (1, 1)
    assert layer("expanded_conv_6/depthwise").dilation_rate == (1, 1)
    assert layer("expanded_conv_7/depthwise").dilation_rate == (2, 2)
    assert layer("expanded_conv_12/depthwise").strides == (1, 1)
    assert layer("expanded_conv_12/depthwise").dilation_rate == (2, 2)
    assert layer("expanded_conv_13/depthwise").dilation_rate == (4, 4)


def test_registered():
    for name in CHANNELS:
        spec = get_backbone_spec(name)
        seg = name.endswith("_seg")  # released by DeepLab at width 1.0, no ImageNet weights of their own
        assert spec.preprocessing == MINUS_ONE_TO_ONE and spec.widths == ((1.0,) if seg else (0.75, 1.0))
        assert (spec.load_pretrained is None) == seg


def test_hard_activations_match_numpy():
    x = np.linspace(-5, 5, 41, dtype="float32").reshape(1, 41)
    hard_sigmoid = np.clip(x + 3, 0, 6) / 6
    np.testing.assert_allclose(HardSigmoid()(x).numpy(), hard_sigmoid, atol=1e-6)
    np.testing.assert_allclose(HardSwish()(x).numpy(), x * hard_sigmoid, atol=1e-6)


@pytest.mark.parametrize("cls", [HardSwish, HardSigmoid])
def test_hard_activations_serialize(cls):
    layer = cls(name="act", dtype="float32")
    assert cls.from_config(layer.get_config()).get_config() == layer.get_config()
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == f"deeplab_tf>{cls.__name__}"
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is cls and restored.name == "act"


def test_hard_swish_converts_to_the_tflite_op():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 1, name="conv")(inputs)
    model = keras.Model(inputs, HardSwish(name="hard_swish")(x))
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    ops = [op["op_name"] for op in Interpreter(model_content=tflite)._get_ops_details()]
    assert ops == ["CONV_2D", "HARD_SWISH"]
