"""ResNet-50/101 v1 and Xception-65 backbones: strides, keras parity, multi-grid, weights."""

import deeplab_tf  # noqa: F401, I001  (selects Keras 2 before TensorFlow is imported)

import numpy as np
import pytest
import tf_keras as keras

from deeplab_tf.configs.base import BackboneConfig
from deeplab_tf.models.backbones import build_backbone, feature_strides, get_backbone_spec, resnet
from deeplab_tf.models.backbones.pretrained import transfer_weights

CHANNELS = {
    "resnet50": {"C2": 256, "C3": 512, "C4": 1024, "C5": 2048},
    "resnet101": {"C2": 256, "C3": 512, "C4": 1024, "C5": 2048},
    "resnet50_deeplab": {"C2": 256, "C3": 512, "C4": 1024, "C5": 2048},
    "xception65": {"C2": 256, "C3": 728, "C4": 1024, "C5": 2048},  # the original decoder's end points
}
CASES = [(name, os, 65) for name in CHANNELS for os in (8, 16, 32)] + [(name, 16, 64) for name in CHANNELS]


def _randomise(model, seed=0):
    """Random kernels ~ N(0, 1/fan_in), biases and BN statistics, so outputs are O(1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c), rng.uniform(0.5, 1.5, c)]
            )
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            values = []
            for w in layer.get_weights():
                if w.ndim == 4:
                    depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
                    fan_in = np.prod(w.shape[:2]) * (1 if depthwise else w.shape[2])
                    values.append(rng.normal(0, 1 / np.sqrt(fan_in), w.shape))
                else:
                    values.append(rng.normal(0, 0.1, w.shape))
            layer.set_weights(values)


@pytest.mark.parametrize("name,output_stride,size", CASES)
def test_strides_and_channels(name, output_stride, size):
    model = build_backbone(BackboneConfig(name=name, output_stride=output_stride), (size, size))
    assert feature_strides(model) == {"C2": 4, "C3": 8, "C4": min(16, output_stride), "C5": output_stride}
    assert {k: v.shape[-1] for k, v in model.output.items()} == CHANNELS[name]
    kinds = {type(layer).__name__ for layer in model.layers}
    assert not kinds & {"Lambda", "TFOpLambda", "SlicingOpLambda"}, kinds


@pytest.fixture(scope="module")
def keras_resnet50():
    model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(None, None, 3))
    _randomise(model)
    levels = {"C2": "conv2_block3_out", "C3": "conv3_block4_out", "C4": "conv4_block6_out", "C5": "conv5_block3_out"}
    return keras.Model(model.input, {k: model.get_layer(v).output for k, v in levels.items()}), model


@pytest.mark.parametrize("size", [97, 96])
def test_resnet50_equals_keras_at_stride_32(keras_resnet50, size):
    features, source = keras_resnet50
    ours = build_backbone(BackboneConfig(name="resnet50", output_stride=32), (size, size))
    copied = transfer_weights(source, ours, resnet.keras_transform(source))
    assert len(copied) == len([layer for layer in ours.layers if layer.weights])
    rgb = np.random.default_rng(1).normal(0, 50, (1, size, size, 3)).astype("float32")
    expected = features(rgb[..., ::-1], training=False)
    got = ours(rgb, training=False)
    for level in ("C2", "C3", "C4", "C5"):
        want = expected[level].numpy()
        assert got[level].shape == want.shape
        assert np.abs(want).max() > 1e-2  # the comparison is not of zeros
        np.testing.assert_allclose(got[level].numpy(), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_resnet50_loads_keras_weights_file(keras_resnet50, tmp_path):
    features, source = keras_resnet50
    path = tmp_path / "resnet50_notop.h5"
    source.save_weights(str(path))
    ours = build_backbone(BackboneConfig(name="resnet50", output_stride=32, weights=str(path)), (64, 64))
    rgb = np.random.default_rng(3).normal(0, 50, (1, 64, 64, 3)).astype("float32")
    want = features(rgb[..., ::-1], training=False)["C5"].numpy()
    got = ours(rgb, training=False)["C5"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_resnet_multi_grid_scales_conv5_rates():
    config = BackboneConfig(name="resnet50", output_stride=16, multi_grid=(1, 2, 4))
    model = build_backbone(config, (65, 65))
    rates = [model.get_layer(f"conv5_block{i}_2_conv").get_config()["dilation_rate"] for i in (1, 2, 3)]
    assert rates == [(2, 2), (4, 4), (8, 8)]  # rate 2 at output stride 16, times (1, 2, 4)
    assert all(model.get_layer(f"conv4_block{i}_2_conv").get_config()["dilation_rate"] == (1, 1) for i in range(1, 7))


@pytest.mark.parametrize("name", ["resnet50", "resnet101", "xception65"])
def test_wrong_multi_grid_raises(name):
    with pytest.raises(ValueError, match="multi_grid"):
        build_backbone(BackboneConfig(name=name, multi_grid=(1, 2)), (65, 65))


@pytest.fixture(scope="module")
def xception():
    model = build_backbone(BackboneConfig(name="xception65"), (65, 65))
    _randomise(model)
    return model


def test_xception_imagenet_raises(xception):
    load = get_backbone_spec("xception65").load_pretrained
    with pytest.raises(ValueError, match="no Keras ImageNet weights exist for xception65"):
        load(xception, BackboneConfig(name="xception65"), "imagenet")


def test_xception_weights_file_round_trip(xception, tmp_path):
    path = tmp_path / "xception65.h5"
    xception.save_weights(str(path))
    loaded = build_backbone(BackboneConfig(name="xception65", weights=str(path)), (65, 65))
    image = np.random.default_rng(2).uniform(-1, 1, (1, 65, 65, 3)).astype("float32")
    want, got = xception(image, training=False), loaded(image, training=False)
    for level in ("C2", "C3", "C4", "C5"):
        np.testing.assert_allclose(got[level].numpy(), want[level].numpy(), rtol=1e-5, atol=1e-5)


def test_xception_bad_weights_files(xception, tmp_path):
    load, config = get_backbone_spec("xception65").load_pretrained, BackboneConfig(name="xception65")
    other = tmp_path / "other.h5"
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    small.save_weights(str(other))
    with pytest.raises(RuntimeError, match="lacks"):
        load(xception, config, str(other))
    with pytest.raises(FileNotFoundError):
        load(xception, config, str(tmp_path / "missing.h5"))


def test_resnet_imagenet_offline_raises():
    try:
        build_backbone(BackboneConfig(name="resnet50", weights="imagenet"), (65, 65))
    except RuntimeError as error:
        assert "could not be downloaded" in str(error)
    else:
        pytest.skip("ImageNet weights were downloadable: the offline error path was not exercised")


def test_resnet_missing_weights_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_backbone(BackboneConfig(name="resnet50", weights=str(tmp_path / "missing.h5")), (65, 65))
