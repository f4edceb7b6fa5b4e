import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter

from deeplab_tf.configs import BackboneConfig
from deeplab_tf.models.activations import HardSigmoid, HardSwish
from deeplab_tf.models.backbones import build_backbone
from deeplab_tf.quantization import (
    calibrate,
    copy_float_weights,
    fake_quant_disabled,
    quantize_model,
    unsupported_layers,
)
from deeplab_tf.quantization.qat import (
    HardSigmoidQuantizeConfig,
    OutputQuantizeConfig,
    ResizeQuantizeConfig,
    input_order_mismatches,
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


def test_quantize_apply_input_order_bug_is_worked_around():
    # tensorflow/model-optimization#1179: a Concatenate whose first input is
    # declared after its second gets its inputs swapped by plain quantize_apply.
    first = keras.Input((8,), name="first")
    second = keras.Input((4,), name="second")
    dense = keras.layers.Dense(6, name="dense")(first)
    model = keras.Model([first, second], keras.layers.Concatenate(name="concat")([second, dense]))
    plain = tfmot.quantization.keras.quantize_model(model)
    assert input_order_mismatches(plain, model), "tfmot fixed #1179: drop qat._order_keeping_layer_lookup"
    qat = quantize_model(model)
    assert input_order_mismatches(qat, model) == []
    inputs = [np.random.RandomState(0).uniform(-1, 1, (2, 8)), np.random.RandomState(1).uniform(-1, 1, (2, 4))]
    with fake_quant_disabled(qat):
        np.testing.assert_allclose(qat(inputs, training=False), model(inputs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("experiment", ["deeplabv3plus_mnv2_synthetic", "deeplabv3_mnv2_pascal"])
def test_qat_copy_computes_the_float_model_with_fake_quant_disabled(experiment):
    # What catches a permuted Concatenate input (aspp_concat got the pooling branch
    # first, #1061) or a weight copied to the wrong layer: without fake quantization
    # the copy must compute exactly the float model.
    from deeplab_tf.configs import get_experiment
    from deeplab_tf.models import build_deeplab

    model = build_deeplab(get_experiment(experiment, smoke=True).model)
    randomize(model)
    qat = quantize_model(model, input_range=(-1.0, 1.0))
    assert input_order_mismatches(qat, model) == []
    images = np.random.RandomState(1).uniform(-1, 1, (2, *model.input_shape[1:])).astype("float32")
    expected = model(images, training=False).numpy()
    with fake_quant_disabled(qat):
        np.testing.assert_allclose(qat(images, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(qat(images, training=False).numpy(), expected, atol=1e-3)  # quantization is back on
    # Upsampling has no range of its own (TFLite's int8 resize keeps its input's scale).
    upsample = [layer for layer in qat.layers if isinstance(getattr(layer, "layer", None), keras.layers.UpSampling2D)]
    assert upsample and all(isinstance(layer.quantize_config, ResizeQuantizeConfig) for layer in upsample)
    assert not any(layer._output_quantizers for layer in upsample)


def test_calibrate_sets_each_range_to_the_mean_batch_range_of_its_float_tensor():
    inputs = keras.Input((6, 6, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="head")(x))
    randomize(model)
    qat = quantize_model(model, input_range=(-1.0, 1.0))
    batches = [np.random.RandomState(i).uniform(-1, 1, (2, 6, 6, 3)).astype("float32") * (i + 1) for i in range(3)]
    ranges = calibrate(qat, batches)
    assert sorted(ranges) == ["quant_head/post_activation", "quant_relu/output"]
    bn = [layer.layer for layer in qat.layers if getattr(layer, "layer", None) is not None and layer.layer.name == "bn"][0]
    np.testing.assert_array_equal(bn.moving_variance.numpy(), model.get_layer("bn").moving_variance.numpy())  # restored
    for name, layer in (("quant_relu/output", "relu"), ("quant_head/post_activation", "head")):
        probe = keras.Model(model.input, model.get_layer(layer).output)
        values = [probe(batch, training=True).numpy() for batch in batches]  # batch-norm batch statistics
        expected = (np.mean([min(0, v.min()) for v in values]), np.mean([max(0, v.max()) for v in values]))
        np.testing.assert_allclose(ranges[name], expected, rtol=1e-5)
        low, high = (w.numpy() for w in qat.weights if w.name.startswith(name + "_m"))
        np.testing.assert_allclose((low, high), expected, rtol=1e-5)
    quantize_layer = [layer for layer in qat.layers if type(layer).__name__ == "QuantizeLayer"][0]
    assert [float(v.numpy()) for v in quantize_layer.quantizer_vars.values()] == [-1.0, 1.0]  # kept
    with pytest.raises(ValueError, match="no batches"):
        calibrate(qat, [])


def test_weights_are_matched_by_layer_name_and_mismatches_listed():
    def build(filters, name):
        inputs = keras.Input((6, 6, 3), name="image")
        x = keras.layers.Conv2D(filters, 3, name="conv")(inputs)
        x = keras.layers.Conv2D(2, 1, name=name)(x)
        return keras.Model(inputs, x)

    model = build(4, "head")
    randomize(model)
    qat = quantize_model(model)
    wrapped = {layer.layer.name: layer for layer in qat.layers if hasattr(layer, "layer")}
    kernel = [w for w in wrapped["conv"].weights if w.name.endswith("kernel:0") and "_m" not in w.name][0]
    np.testing.assert_array_equal(kernel.numpy(), model.get_layer("conv").kernel.numpy())
    expected = r"other: not in the QAT model; head: not in the float model; conv: weights .*\(3, 3, 3, 5\)"
    with pytest.raises(ValueError, match=expected):
        copy_float_weights(build(5, "other"), qat)
