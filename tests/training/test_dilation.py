import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.configs import get_experiment
from deeplab_tf.models import build_deeplab
from deeplab_tf.training.benchmark import synthetic_batch
from deeplab_tf.training.dilation import native_dilated_convolutions, native_dilation_supported
from deeplab_tf.training.step import make_train_step


def _dense_aspp_smoke():
    config = get_experiment("deeplabv3plus_mnv2_pascal", smoke=True)
    assert not config.model.aspp.separable  # dense dilated 3x3 branches: the layers redirected
    return config


def _tiny_dilated_model():
    """Dense dilated convs at rates below and above the map size (ASPP at
    65x65 and OS16 has 5x5 maps and rates 6-18), a dilated depthwise conv
    (left emulated), batch norm and a strided conv."""
    inputs = keras.Input((13, 17, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(inputs)
    x = keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", name="depthwise_rate2")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    branches = [keras.layers.Conv2D(4, 3, dilation_rate=r, padding="same", name=f"rate{r}")(x) for r in (2, 6)]
    x = keras.layers.Concatenate()(branches)
    x = keras.layers.Conv2D(5, 3, dilation_rate=(1, 3), padding="valid", name="valid_rate1x3")(x)
    return keras.Model(inputs, keras.layers.UpSampling2D(2)(x))


def _one_step(native: bool):
    keras.utils.set_random_seed(0)
    model = _tiny_dilated_model()
    step = make_train_step(model, keras.optimizers.SGD(0.5, momentum=0.9), 255, weight_decay=4e-5, native_dilation=native)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(2, 13, 17, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, 5, (2, 10, 6, 1)), tf.int32)
    losses = [float(step(images, labels)) for _ in range(2)]
    graph_def = step.get_concrete_function(images, labels).graph.as_graph_def()
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    rates = {tuple(n.attr["dilations"].list.i) for n in nodes if n.op == "Conv2D"}
    return losses, model, rates


@pytest.mark.skipif(not native_dilation_supported(), reason="no native dilated Conv2D gradients here")
def test_native_dilation_trains_to_the_same_weights():
    losses_native, native, rates_native = _one_step(native=True)
    losses_emulated, emulated, rates_emulated = _one_step(native=False)
    np.testing.assert_allclose(losses_native, losses_emulated, rtol=1e-5)
    assert losses_native[1] != losses_native[0]  # the first step changed the weights
    for a, b in zip(native.weights, emulated.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=a.name)
    assert {(1, 2, 2, 1), (1, 6, 6, 1), (1, 1, 3, 1)} <= rates_native  # single native ops
    assert rates_emulated == {(1, 1, 1, 1)}


def test_redirection_is_scoped_and_leaves_the_model_unchanged():
    config = _dense_aspp_smoke()
    model = build_deeplab(config.model)
    images, _ = synthetic_batch(config)
    before = model(images, training=False).numpy()
    with native_dilated_convolutions(model) as names:
        inside = model(images, training=False).numpy()
        if native_dilation_supported():
            assert sorted(names) == ["aspp_atrous12", "aspp_atrous18", "aspp_atrous6"]
            assert all("convolution_op" in model.get_layer(name).__dict__ for name in names)
    assert not any("convolution_op" in layer.__dict__ for layer in model.layers)
    np.testing.assert_allclose(inside, before, rtol=1e-4, atol=1e-4)
    with native_dilated_convolutions(model, enabled=False) as names:
        assert names == []


def test_without_onednn_the_step_falls_back_to_emulated_dilation():
    code = (
        "import deeplab_tf\n"
        "from deeplab_tf.training.dilation import native_dilation_supported\n"
        "print(native_dilation_supported())\n"
    )
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
