import numpy as np
import pytest
import tf_keras as keras

from deeplab_tf.configs import BackboneConfig
from deeplab_tf.models import build_backbone, feature_strides
from deeplab_tf.models.backbones.pretrained import transfer_weights


def randomize(model, seed=0):
    """Non-degenerate weights: with Keras' initial BN statistics activations vanish."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, v.shape).astype("float32") if i in (0, 3) else rng.normal(0, 0.1, v.shape).astype("float32") for i, v in enumerate(values)])
        elif values:
            layer.set_weights([rng.normal(0, 1 / np.sqrt(np.prod(v.shape[:-1]) or 1), v.shape).astype("float32") for v in values])


@pytest.mark.parametrize("size", [97, 96])
def test_equals_keras_applications_at_output_stride_32(size):
    ours = build_backbone(BackboneConfig(output_stride=32, width_multiplier=0.5), (size, size))
    theirs = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.5, input_shape=(size, size, 3))
    randomize(theirs)
    transfer_weights(theirs, ours)
    images = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    expected = keras.Model(theirs.input, theirs.get_layer("block_16_project_BN").output)(images).numpy()
    assert np.abs(expected).mean() > 0.1
    np.testing.assert_allclose(ours(images)["C5"].numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_levels_have_the_stated_strides_and_channels(output_stride):
    model = build_backbone(BackboneConfig(output_stride=output_stride), (65, 65))
    assert feature_strides(model) == {"C2": 4, "C3": 8, "C4": min(16, output_stride), "C5": output_stride}
    assert {name: t.shape[-1] for name, t in model.output.items()} == {"C2": 24, "C3": 32, "C4": 96, "C5": 320}


def test_dilation_replaces_stride_past_the_output_stride():
    model = build_backbone(BackboneConfig(output_stride=8), (65, 65))
    depthwise = {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)}
    assert depthwise["block_6_depthwise"].strides == (1, 1) and depthwise["block_6_depthwise"].dilation_rate == (1, 1)
    assert depthwise["block_7_depthwise"].dilation_rate == (2, 2)
    assert depthwise["block_13_depthwise"].dilation_rate == (2, 2)
    assert depthwise["block_14_depthwise"].dilation_rate == (4, 4)
