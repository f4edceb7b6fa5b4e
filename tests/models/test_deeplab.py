import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.configs import ASPPConfig, BackboneConfig, DecoderConfig, ModelConfig, get_experiment
from deeplab_tf.models import build_backbone, build_deeplab, feature_strides, list_backbones
from deeplab_tf.models.layers import upsample_to
from deeplab_tf.models.profile import count_macs

SMALL_WIDTH = {"mobilenet_v2": 0.35, "mobilenet_v3_large": 0.75, "mobilenet_v3_small": 0.75}
REQUIRED_BACKBONES = {
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "resnet50", "resnet101", "resnet50_deeplab", "xception65",
    "mobilenet_v3_large_seg", "mobilenet_v3_small_seg",
}  # fmt: skip


def small_config(backbone="mobilenet_v2", output_stride=16, decoder=None, size=(65, 65), classes=5, **aspp):
    return ModelConfig(
        num_classes=classes,
        input_size=size,
        backbone=BackboneConfig(
            name=backbone, output_stride=output_stride, width_multiplier=SMALL_WIDTH.get(backbone, 1.0)
        ),
        aspp=ASPPConfig(filters=16, **aspp),
        decoder=DecoderConfig(low_level_feature=decoder, filters=16, low_level_filters=8),
    )


def test_every_required_backbone_is_registered():
    assert REQUIRED_BACKBONES <= set(list_backbones())


@pytest.mark.parametrize("backbone", sorted(REQUIRED_BACKBONES))
@pytest.mark.parametrize("decoder", [None, "C2"], ids=["v3", "v3plus"])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_builds_and_yields_logits_at_input_size(backbone, decoder, output_stride):
    config = small_config(backbone, output_stride, decoder)
    model = build_deeplab(config)
    images = np.random.RandomState(0).uniform(-1, 1, (2, 65, 65, 3)).astype("float32")
    logits = model(images, training=False)
    assert logits.shape == (2, 65, 65, 5)
    assert np.isfinite(logits.numpy()).all()
    strides = feature_strides(build_backbone(config.backbone, (65, 65)))
    assert strides == {"C2": 4, "C3": 8, "C4": min(16, output_stride), "C5": output_stride}
    assert ("decoder_concat" in [layer.name for layer in model.layers]) == (decoder is not None)


@pytest.mark.parametrize("size", [(64, 64), (65, 65), (72, 96), (257, 257)])
@pytest.mark.parametrize("decoder", [None, "C2"], ids=["v3", "v3plus"])
def test_input_sizes_of_both_forms_and_odd_ones(size, decoder):
    model = build_deeplab(small_config(decoder=decoder, size=size))
    assert model.output_shape == (None, *size, 5)
    assert model.output_names == ["logits"] and model.input_names == ["image"]


def test_graph_uses_only_quantizable_named_layers():
    model = build_deeplab(get_experiment("deeplabv3plus_mnv2_camvid", smoke=True).model)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert not kinds & {"Lambda", "TFOpLambda", "SlicingOpLambda", "Resizing", "Functional"}
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert all(not name.startswith(("conv2d", "batch_normalization", "re_lu")) for name in names)


def test_atrous_rates_default_to_6_12_18_at_os16_and_double_at_os8():
    def rates(model):
        return sorted(
            layer.dilation_rate[0] for layer in model.layers if layer.name.startswith("aspp_atrous") and not layer.name.endswith(("_bn", "_relu"))
        )

    assert rates(build_deeplab(small_config(output_stride=16))) == [6, 12, 18]
    assert rates(build_deeplab(small_config(output_stride=8))) == [12, 24, 36]
    mobile = build_deeplab(small_config(atrous_rates=()))
    assert rates(mobile) == [] and "aspp_pool" in [layer.name for layer in mobile.layers]


def test_separable_aspp_uses_depthwise_convolutions():
    model = build_deeplab(small_config(separable=True))
    depthwise = [layer for layer in model.layers if layer.name.startswith("aspp_atrous") and isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert sorted(layer.dilation_rate[0] for layer in depthwise) == [6, 12, 18]


def test_get_config_round_trips():
    model = build_deeplab(get_experiment("deeplabv3plus_mnv2_camvid", smoke=True).model)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    images = np.random.RandomState(1).uniform(-1, 1, (1, 65, 65, 3)).astype("float32")
    np.testing.assert_allclose(clone(images).numpy(), model(images).numpy(), atol=1e-5)
    assert clone.get_config() == model.get_config()


@pytest.mark.parametrize("size, factor", [((513, 513), 16), ((257, 257), 16), ((129, 129), 4)])
def test_upsampling_of_k_stride_plus_one_sizes_matches_align_corners(size, factor):
    # On a ramp (value = column index) align_corners resizing gives exactly
    # column / factor; ours may be off by 1/(2 * factor) of a feature pixel.
    side = (size[0] - 1) // factor + 1
    ramp = np.tile(np.arange(side, dtype="float32"), (side, 1))[None, :, :, None]
    inputs = keras.Input((side, side, 1))
    model = keras.Model(inputs, upsample_to(inputs, size, factor, "up"))
    ours = model(ramp).numpy()
    reference = tf.compat.v1.image.resize_bilinear(ramp, size, align_corners=True).numpy()
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1 / (2 * factor) + 1e-5
    naive = tf.image.resize(ramp, size).numpy()  # half-pixel resize to the odd size
    assert np.abs(naive - reference).max() > 2 / (2 * factor)


def test_upsampling_of_stride_multiples_is_the_half_pixel_resize():
    features = np.random.RandomState(3).normal(size=(1, 8, 8, 3)).astype("float32")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, upsample_to(inputs, (64, 64), 8, "up"))
    reference = tf.image.resize(features, (64, 64), method="bilinear").numpy()
    np.testing.assert_allclose(model(features).numpy(), reference, atol=1e-5)


def test_multiply_adds_match_the_published_deeplab_mobilenet_v2_figures():
    config = get_experiment("deeplabv3_mnv2_pascal").model
    macs = count_macs(build_deeplab(config))
    assert abs(macs - 2.75e9) / 2.75e9 < 0.10  # DeepLab model zoo: 2.75B at 513x513
    half = dataclasses.replace(config, backbone=dataclasses.replace(config.backbone, width_multiplier=0.5))
    assert abs(count_macs(build_deeplab(half)) - 0.88e9) / 0.88e9 < 0.10  # 0.88B for width 0.5


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(backbone=BackboneConfig(name="vgg16")), "unknown backbone 'vgg16'; known backbones: .*mobilenet_v2"),
        (dict(backbone=BackboneConfig(output_stride=4)), r"output_stride must be one of \(8, 16, 32\), got 4"),
        (dict(backbone=BackboneConfig(output_stride=12)), "output_stride must be one of"),
        (dict(input_size=(16, 65)), "input size 16x65 is too small for backbone 'mobilenet_v2'"),
        (dict(input_size=(65,)), "input_size must be two integers"),
        (dict(input_size=(65.5, 65)), "input_size must be two integers"),
        (dict(num_classes=1), "num_classes must be an integer >= 2, got 1"),
        (dict(backbone=BackboneConfig(width_multiplier=0.3)), "width_multiplier in"),
        (dict(decoder=DecoderConfig(low_level_feature="C9")), "decoder.low_level_feature must be one of"),
        (dict(aspp=ASPPConfig(image_pooling_crop_size=(33, 33), image_pooling_stride=(2, 2))),
         "image pooling into a 2x2 grid .* set model.align_corners=true"),
        (dict(aspp=ASPPConfig(image_pooling_stride=(0, 1))), "aspp.image_pooling_stride must be positive"),
        (dict(aspp=ASPPConfig(squeeze_excite=True, image_pooling=False)), "aspp.squeeze_excite .* needs aspp.image_pooling"),
        (dict(decoder=DecoderConfig(low_level_feature="C2", output_is_logits=True)),
         "decoder.output_is_logits needs decoder.sum_merge"),
    ],
)
def test_bad_input_gets_a_clear_error(change, message):
    config = dataclasses.replace(small_config(), **change)
    with pytest.raises(ValueError, match=message):
        build_deeplab(config)


def test_imagenet_weights_offline_is_one_clear_sentence():
    config = dataclasses.replace(small_config(), backbone=BackboneConfig(weights="imagenet", width_multiplier=0.35))
    try:
        build_deeplab(config)
    except RuntimeError as error:
        assert "ImageNet weights for backbone 'mobilenet_v2' could not be downloaded" in str(error)
    else:
        pytest.skip("ImageNet weights were downloadable here")


def test_weights_file_path_loads_into_the_backbone(tmp_path):
    source = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(224, 224, 3))
    path = str(tmp_path / "mnv2.h5")
    source.save_weights(path)
    config = dataclasses.replace(small_config(), backbone=BackboneConfig(weights=path, width_multiplier=0.35))
    model = build_deeplab(config)
    np.testing.assert_array_equal(model.get_layer("block_5_expand").get_weights()[0], source.get_layer("block_5_expand").get_weights()[0])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_deeplab(dataclasses.replace(config, backbone=BackboneConfig(weights=str(tmp_path / "missing.h5"), width_multiplier=0.35)))


@pytest.mark.parametrize("separable", [False, True])
def test_sum_merge_decoder_refines_the_encoder_once_and_adds_the_projection(separable):
    """The original's decoder_use_sum_merge (decoder_output_is_logits off): one refinement conv
    (BN + ReLU) on the upsampled encoder output plus a ``filters``-wide low-level projection."""
    config = dataclasses.replace(
        small_config(decoder="C2"),
        decoder=DecoderConfig(low_level_feature="C2", filters=16, low_level_filters=8, sum_merge=True, separable=separable),
    )
    model = build_deeplab(config)
    names = [layer.name for layer in model.layers]
    assert "decoder_concat" not in names and "decoder_conv2" not in names and "logits_conv" in names
    (node,) = model.get_layer("decoder_sum").inbound_nodes
    assert [layer.name for layer in node.inbound_layers] == [
        "decoder_conv1_pointwise_relu" if separable else "decoder_conv1_relu", "decoder_low_level_relu"]  # fmt: skip
    assert model.get_layer("decoder_low_level").filters == 16  # the decoder's filters, not low_level_filters
    assert model.output_shape == (None, 65, 65, 5)
