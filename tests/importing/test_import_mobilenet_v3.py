"""deeplab-import of research/deeplab's MobileNetV3 Cityscapes models (mobilenet_v3_large_seg and
mobilenet_v3_small_seg with the model zoo's LR-ASPP-like head).

The checkpoints are written here from the original code's rules (TF-slim's mobilenet_v3.py conv defs
and conv_blocks.py, research/deeplab's feature_extractor.py halving of the last stage, model.py's
squeeze-excite image pooling and sum-merge logits decoder), independently of
deeplab_tf.importing.mapping and of the Keras builders; so is the original's forward pass, in plain
TF ops on the checkpoint values, against which the imported model's logits are compared. The real
zoo tarballs cannot be downloaded here.
"""

import deeplab_tf  # noqa: F401, I001  (selects Keras 2 before TensorFlow is imported)

import os

import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.artifacts.model_dir import restore_model
from deeplab_tf.configs import get_experiment, override
from deeplab_tf.export.export import find_checkpoint
from deeplab_tf.export.inspect import run_tflite
from deeplab_tf.export.serving_graph import probabilities_fn
from deeplab_tf.export.conversion import ConvertOptions, convert
from deeplab_tf.importing import mapping
from deeplab_tf.importing.importer import import_weights
from deeplab_tf.importing.sources import Source
from deeplab_tf.models import build_backbone, get_backbone_spec
from deeplab_tf.models.deeplab import build_deeplab_with_backbone
from deeplab_tf.quantization import calibrate, quantize_model, unsupported_layers

from test_import_backbones import _Variables, write_tf1_checkpoint

# 5 * 32 + 1 by 7 * 32 + 1, as the original sizes its crops (k * stride + 1); at output stride 32 the
# features are 6x8, and an image-pooling crop of 97x97 pools 4x4 windows, at stride (1, 2) a 3x3 grid:
# the zoo's 769x769 crop at stride (4, 5) on 1025x2049 frames pools a 3x9 grid the same way.
SIZE = (161, 225)
POOL_CROP, POOL_STRIDE = (97, 97), (1, 2)
OVERRIDES = {
    "model.input_size": f"{SIZE[0]},{SIZE[1]}",
    "model.aspp.image_pooling_crop_size": f"{POOL_CROP[0]},{POOL_CROP[1]}",
    "model.aspp.image_pooling_stride": f"{POOL_STRIDE[0]},{POOL_STRIDE[1]}",
}
EXPERIMENTS = {"large": "deeplabv3plus_mnv3_large_cityscapes", "small": "deeplabv3plus_mnv3_small_cityscapes"}
CLASSES, ASPP_FILTERS = 19, 128
INT8_AGREEMENT = 0.9
# slim.batch_norm's default under feature_extractor's mobilenet_v2_arg_scope; model.py's heads.
SLIM_EPSILON, HEAD_EPSILON = 1e-3, 1e-5

# TF-slim mobilenet_v3.V3_LARGE / V3_SMALL: ("conv", kernel, outputs, stride, activation) or
# ("block", expansion factor, outputs, kernel, stride, activation, squeeze-excite).
HS = "hard_swish"
V3_LARGE = [
    ("conv", 3, 16, 2, HS), ("block", 1, 16, 3, 1, "relu", False), ("block", 4, 24, 3, 2, "relu", False),
    ("block", 3, 24, 3, 1, "relu", False), ("block", 3, 40, 5, 2, "relu", True), ("block", 3, 40, 5, 1, "relu", True),
    ("block", 3, 40, 5, 1, "relu", True), ("block", 6, 80, 3, 2, HS, False), ("block", 2.5, 80, 3, 1, HS, False),
    ("block", 184 / 80, 80, 3, 1, HS, False), ("block", 184 / 80, 80, 3, 1, HS, False),
    ("block", 6, 112, 3, 1, HS, True), ("block", 6, 112, 3, 1, HS, True), ("block", 6, 160, 5, 2, HS, True),
    ("block", 6, 160, 5, 1, HS, True), ("block", 6, 160, 5, 1, HS, True), ("conv", 1, 960, 1, HS),
]  # fmt: skip
V3_SMALL = [
    ("conv", 3, 16, 2, HS), ("block", 1, 16, 3, 2, "relu", True), ("block", 72 / 16, 24, 3, 2, "relu", False),
    ("block", 88 / 24, 24, 3, 1, "relu", False), ("block", 4, 40, 5, 2, HS, True), ("block", 6, 40, 5, 1, HS, True),
    ("block", 6, 40, 5, 1, HS, True), ("block", 3, 48, 5, 1, HS, True), ("block", 3, 48, 5, 1, HS, True),
    ("block", 6, 96, 5, 2, HS, True), ("block", 6, 96, 5, 1, HS, True), ("block", 6, 96, 5, 1, HS, True),
    ("conv", 1, 576, 1, HS),
]  # fmt: skip
# feature_extractor.py: the layers whose outputs (and expansions: new expansion size) are halved, the
# final endpoint (layer_17 / layer_13: the spec's last used entry) and the decoder end point at stride 8.
SEG = {
    "large": (V3_LARGE, [(13, 336), (14, 480), (15, 480), (16, None)], 17, "layer_7/depthwise_output"),
    "small": (V3_SMALL, [(9, 144), (10, 288), (11, 288), (12, None)], 13, "layer_4/depthwise_output"),
}


def make_divisible(value, divisor=8):
    """conv_blocks._make_divisible."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def seg_spec(variant):
    """feature_extractor.mobilenet_v3_*_seg's conv defs: outputs halved, expansions reset."""
    spec, halved, final, _ = SEG[variant]
    spec = [list(layer) for layer in spec]
    for index, expansion in halved:
        spec[index][2] = spec[index][2] / 2  # outputs
        if expansion is not None:
            spec[index][1] = expansion / spec[index - 1][2]
    return spec[:final]


def scope_of(i, spec):
    """slim's default scope names: Conv, Conv_1; expanded_conv, expanded_conv_1, ..."""
    kind = spec[i][0]
    n = sum(1 for layer in spec[:i] if layer[0] == kind)
    base = "Conv" if kind == "conv" else "expanded_conv"
    return f"MobilenetV3/{base}" + (f"_{n}" if n else "")


def original_variables(variant, seed):
    """The variables of a research/deeplab MobileNetV3 Cityscapes checkpoint."""
    variables, spec = _Variables(seed), seg_spec(variant)
    channels = 3
    for i, layer in enumerate(spec):
        scope = scope_of(i, spec)
        if layer[0] == "conv":
            _, kernel, outputs, _, _ = layer
            channels = variables.conv(scope, [kernel, kernel, channels, make_divisible(outputs)])
            continue
        _, factor, outputs, kernel, _, _, se = layer
        inner = make_divisible(channels * factor)
        if inner > channels:
            variables.conv(f"{scope}/expand", [1, 1, channels, inner])
        variables.conv(f"{scope}/depthwise", [kernel, kernel, inner, 1], depthwise=True)
        if se:
            squeeze = make_divisible(inner / 4)
            variables.conv(f"{scope}/squeeze_excite/Conv", [1, 1, inner, squeeze], bn=False)
            variables.conv(f"{scope}/squeeze_excite/Conv_1", [1, 1, squeeze, inner], bn=False)
        channels = variables.conv(f"{scope}/project", [1, 1, inner, make_divisible(outputs)])
    low_level = {"large": 120, "small": 88}[variant]  # layer_7 / layer_4 depthwise outputs
    variables.conv("image_pooling", [1, 1, channels, ASPP_FILTERS], bn=False)
    variables.conv("aspp0", [1, 1, channels, ASPP_FILTERS])
    variables.conv("decoder/feature_projection0", [1, 1, low_level, CLASSES], bn=False)
    variables.conv("decoder/decoder_conv0", [1, 1, ASPP_FILTERS, CLASSES], bn=False)
    return variables.values


# --- the original's forward pass ----------------------------------------------------------


def _bn(x, values, scope, epsilon):
    gamma, beta, mean, variance = (values[f"{scope}/BatchNorm/{n}"] for n in ("gamma", "beta", "moving_mean", "moving_variance"))  # fmt: skip
    return (x - mean) * (gamma / np.sqrt(variance + epsilon)) + beta


def _act(x, kind):
    return tf.nn.relu(x) if kind == "relu" else x * tf.nn.relu6(x + 3) * np.float32(1 / 6)  # mobilenet_v3.hard_swish


def _conv(x, values, scope, activation, stride=1, epsilon=SLIM_EPSILON):
    x = tf.nn.conv2d(x, values[f"{scope}/weights"], stride, "SAME")
    if f"{scope}/biases" in values:
        x = x + values[f"{scope}/biases"]
    else:
        x = _bn(x, values, scope, epsilon)
    return activation(x) if activation else x


def original_backbone(images, values, variant, output_stride):
    """mobilenet.mobilenet_base (SAME padding, atrous past output_stride) on the seg conv defs."""
    spec, end_points = seg_spec(variant), {}
    current, rate, x = 1, 1, images
    for i, layer in enumerate(spec):
        stride = layer[3] if layer[0] == "conv" else layer[4]
        if current == output_stride:  # mobilenet_base: stride 1, the current rate, then a larger one
            stride, layer_rate, rate = 1, rate, rate * stride
        else:
            layer_rate, current = 1, current * stride
        scope = scope_of(i, spec)
        if layer[0] == "conv":
            x = _conv(x, values, scope, lambda t, kind=layer[4]: _act(t, kind), stride)
            continue
        _, _, _, _, _, kind, se = layer
        block_input, net = x, x
        if f"{scope}/expand/weights" in values:
            net = _conv(net, values, f"{scope}/expand", lambda t, kind=kind: _act(t, kind))
        kernel = values[f"{scope}/depthwise/depthwise_weights"]
        net = tf.nn.depthwise_conv2d(net, kernel, [1, stride, stride, 1], "SAME", dilations=[layer_rate] * 2)
        net = _act(_bn(net, values, f"{scope}/depthwise", SLIM_EPSILON), kind)
        end_points[f"layer_{i + 1}/depthwise_output"] = net
        if se:  # conv_blocks.squeeze_excite: whole-map average pool, relu, hard sigmoid 0.16667
            pooled = tf.reduce_mean(net, axis=[1, 2], keepdims=True)
            squeeze = _conv(pooled, values, f"{scope}/squeeze_excite/Conv", tf.nn.relu)
            net = net * _conv(squeeze, values, f"{scope}/squeeze_excite/Conv_1", lambda t: tf.nn.relu6(t + 3) * 0.16667)
        net = _conv(net, values, f"{scope}/project", None)
        if stride == 1 and net.shape[-1] == block_input.shape[-1]:  # expanded_conv's residual rule
            net = net + block_input
        x = net
    end_points["output"] = x
    return end_points


def scale_dimension(dim, scale):
    return int((dim - 1.0) * scale + 1.0)


def resize(x, size):
    return tf.compat.v1.image.resize_bilinear(x, size, align_corners=True)


def original_logits(images, values, variant):
    """model.py's extract_features (squeeze-excite image pooling, no concat projection) and
    refine_by_decoder (sum merge, decoder output is logits), then predict_labels' resize."""
    crop, output_stride = images.shape[1:3], 32
    end_points = original_backbone(images, values, variant, output_stride)
    features = end_points["output"]
    pool = [scale_dimension(s, 1 / output_stride) for s in POOL_CROP]
    image_feature = tf.nn.avg_pool2d(features, pool, POOL_STRIDE, "VALID")
    image_feature = _conv(image_feature, values, "image_pooling", lambda t: tf.nn.relu6(t + 3) * 0.16667)  # q_sigmoid
    image_feature = resize(image_feature, [scale_dimension(s, 1 / output_stride) for s in crop])
    aspp = _conv(features, values, "aspp0", tf.nn.relu, epsilon=HEAD_EPSILON) * image_feature
    decoder_size = [scale_dimension(s, 1 / 8) for s in crop]
    projected = resize(_conv(end_points[SEG[variant][3]], values, "decoder/feature_projection0", None), decoder_size)
    logits = _conv(resize(aspp, decoder_size), values, "decoder/decoder_conv0", None) + projected
    return resize(logits, crop), image_feature.shape


# --- imports ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["large", "small"])
def imported(request, tmp_path_factory):
    variant, tmp_path = request.param, tmp_path_factory.mktemp(request.param)
    values = original_variables(variant, seed={"large": 0, "small": 1}[variant])
    prefix = write_tf1_checkpoint(tmp_path / "zoo" / "model.ckpt", values)
    config = override(get_experiment(EXPERIMENTS[variant]), OVERRIDES)
    record = import_weights(prefix, config, str(tmp_path / "run"))
    model, backbone = build_deeplab_with_backbone(config.model)
    restore_model(model, find_checkpoint(str(tmp_path / "run")))
    return {"variant": variant, "values": values, "record": record, "model": model}


def test_every_variable_is_used_once_where_the_original_had_it(imported):
    values, record, model = imported["values"], imported["record"], imported["model"]
    assert record["kind"] == "tf1_checkpoint" and record["variables_used"] == len(values)
    assert sorted(record["variables_ignored"]) == sorted([f"{next(iter(values))}/Momentum", "global_step"])
    assert record["derived"] == []
    block = "expanded_conv_5" if imported["variant"] == "large" else "expanded_conv_4"
    for layer, attribute, name in [
        ("Conv", "kernel", "MobilenetV3/Conv/weights"),
        (f"{block}/squeeze_excite/Conv_1", "bias", f"MobilenetV3/{block}/squeeze_excite/Conv_1/biases"),
        (f"{block}/depthwise", "depthwise_kernel", f"MobilenetV3/{block}/depthwise/depthwise_weights"),
        ("Conv_1/BatchNorm", "moving_mean", "MobilenetV3/Conv_1/BatchNorm/moving_mean"),
        ("aspp_pool_conv", "bias", "image_pooling/biases"),
        ("aspp_conv1x1", "kernel", "aspp0/weights"),
        ("decoder_low_level", "kernel", "decoder/feature_projection0/weights"),
        ("decoder_conv1", "bias", "decoder/decoder_conv0/biases"),
    ]:
        np.testing.assert_array_equal(getattr(model.get_layer(layer), attribute).numpy(), values[name], err_msg=layer)
    assert "logits_conv" not in [layer.name for layer in model.layers]  # the decoder's output is the logits


def test_the_imported_model_computes_the_original(imported):
    images = tf.constant(np.random.default_rng(2).uniform(-1, 1, (1, *SIZE, 3)), tf.float32)
    want, pooled_shape = original_logits(images, imported["values"], imported["variant"])
    assert tuple(pooled_shape[1:3]) == (6, 8)  # resized from a 3x3 grid of pooled windows
    assert imported["model"].get_layer("aspp_pool").output_shape[1:3] == (3, 3)
    got = imported["model"](images, training=False).numpy()
    assert got.shape == (1, *SIZE, CLASSES)
    scale = np.abs(want).max()
    assert scale > 1e-2  # not a comparison of zeros
    # HardSigmoid multiplies by 1/6 where the original's q_sigmoid multiplies by 0.16667 (2e-5 apart)
    # measured: 6.4e-6 (large) and 7.0e-6 (small) at logits up to 0.69 and 0.71
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=5e-5 * scale)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_atrous_backbone_is_the_originals(output_stride):
    """Past the output stride a stride-2 block gets stride 1 and the current rate, and keeps a
    residual where the depth allows (small's expanded_conv_8 at OS8 and OS16), as mobilenet_base."""
    values = original_variables("small", seed=3)
    config = override(get_experiment(EXPERIMENTS["small"]), {"model.backbone.output_stride": output_stride}).model
    backbone = build_backbone(config.backbone, SIZE)
    mapping.apply(backbone, _backbone_assignment(backbone, config, values))
    assert "expanded_conv_8/Add" in [layer.name for layer in backbone.layers]
    images = tf.constant(np.random.default_rng(4).uniform(-1, 1, (1, *SIZE, 3)), tf.float32)
    end_points = original_backbone(images, values, "small", output_stride)
    got = backbone(images, training=False)
    for level, end_point in {"C2": "layer_2/depthwise_output", "C3": "layer_4/depthwise_output",
                             "C4": "layer_9/depthwise_output", "C5": "output"}.items():  # fmt: skip
        want = end_points[end_point].numpy()
        np.testing.assert_allclose(got[level].numpy(), want, rtol=1e-3, atol=1e-4 * np.abs(want).max(), err_msg=level)


def _backbone_assignment(backbone, config, values):
    """mapping.assign on the backbone alone: the checkpoint without the head's variables."""
    heads = ("image_pooling", "aspp0", "decoder/")
    source = Source("test", "tf1_checkpoint", {k: v for k, v in values.items() if not k.startswith(heads)},
                            folded=False)  # fmt: skip
    return mapping.assign(backbone, config, source)


def test_missing_and_extra_variables_are_listed_and_nothing_is_written(tmp_path):
    values = original_variables("small", seed=5)
    del values["MobilenetV3/expanded_conv_3/squeeze_excite/Conv/biases"]
    values["MobilenetV3/expanded_conv_11/project/weights"] = np.zeros((1, 1, 8, 8), np.float32)
    prefix = write_tf1_checkpoint(tmp_path / "ckpt" / "model.ckpt", values)
    with pytest.raises(mapping.ImportMismatch) as error:
        import_weights(prefix, override(get_experiment(EXPERIMENTS["small"]), OVERRIDES), str(tmp_path / "run"))
    message = str(error.value)
    assert "1 weights of the model without a source variable" in message
    assert "MobilenetV3/expanded_conv_3/squeeze_excite/Conv/biases" in message
    assert "1 source variables no weight takes" in message and "MobilenetV3/expanded_conv_11/project/weights" in message
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_the_large_checkpoint_does_not_fit_the_small_experiment(tmp_path):
    prefix = write_tf1_checkpoint(tmp_path / "zoo" / "model.ckpt", original_variables("large", seed=6))
    config = override(get_experiment(EXPERIMENTS["small"]), OVERRIDES)
    with pytest.raises(ValueError, match=r"does not fit"):
        import_weights(prefix, config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_init_from_the_zoo_checkpoint_with_another_class_count(tmp_path):
    # Its classes are in the decoder (no logits/semantic): it starts a run as a whole model, not as a
    # backbone alone; with 12 classes only the two 1x1 convs of the sum-merge decoder start fresh.
    from deeplab_tf.importing.initial import initial_weights_fn, read_init_from

    values = original_variables("small", seed=7)
    prefix = write_tf1_checkpoint(tmp_path / "zoo" / "model.ckpt", values)
    init = read_init_from(prefix)
    assert not init.backbone_only and mapping.segmentation_classes(init.source) == CLASSES
    config = override(get_experiment(EXPERIMENTS["small"]), {**OVERRIDES, "model.num_classes": 12})
    model, lines = build_deeplab_with_backbone(config.model)[0], []
    initial_weights_fn(init, config, lines.append)(model)
    assert lines[0].endswith("2 not loaded")
    assert sorted(line.split(":")[1].strip() for line in lines[1:]) == ["decoder_conv1", "decoder_low_level"]
    np.testing.assert_array_equal(model.get_layer("aspp_conv1x1").kernel.numpy(), values["aspp0/weights"])
    assert model.get_layer("decoder_conv1").kernel.shape[-1] == 12


# --- the experiments: smoke variants, quantization, conversion -------------------------------


@pytest.mark.parametrize("variant", ["small", pytest.param("large", marks=pytest.mark.heavy)])  # 26 s each
def test_experiment_quantizes_and_converts(variant):
    """The smoke model (65x65, one global image pool) with the original's weights (ASPP 128 wide):
    a float .tflite computes it, its QAT copy converts to an int8 mask."""
    config = override(get_experiment(EXPERIMENTS[variant], smoke=True), {"model.aspp.filters": ASPP_FILTERS})
    model, _ = build_deeplab_with_backbone(config.model)
    assert unsupported_layers(model) == []
    values = original_variables(variant, seed=7)
    for name in ("decoder/feature_projection0/weights", "decoder/feature_projection0/biases",
                 "decoder/decoder_conv0/weights", "decoder/decoder_conv0/biases"):  # fmt: skip
        values[name] = values[name] * 10  # logits of a decided network, not a near-uniform softmax
    mapping.apply(model, mapping.assign(model, config.model, Source("test", "tf1_checkpoint", values, folded=False)))
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    pixels = np.random.default_rng(6).integers(0, 256, (2, *config.model.input_size, 3)).astype(np.uint8)
    normalized = ((pixels - 127.5) / 127.5).astype(np.float32)
    float_tflite = convert(model, ConvertOptions("none", "float32", "scores", preprocessing))
    keras_scores = probabilities_fn(model)(tf.constant(normalized[:1])).numpy()  # softmax, then the final resize
    assert np.median(keras_scores.max(-1)) > 0.2  # measured 0.27 (small), 0.55 (large): 19 classes
    # measured: 6.3e-7 (small), 6.6e-7 (large)
    np.testing.assert_allclose(run_tflite(float_tflite, normalized[:1]), keras_scores, atol=1e-5)
    qat = quantize_model(model, input_range=(-1.0, 1.0))
    calibrate(qat, [normalized], training=False)
    int8 = convert(qat, ConvertOptions("int8_qat", "uint8", "mask", preprocessing))
    mask = run_tflite(int8, pixels[:1])
    assert mask.shape == (1, *config.model.input_size)
    # measured: 0.934 (small), 0.949 (large) of the pixels; a random network's near-ties flip under int8
    assert (mask[0] == qat(normalized[:1], training=False).numpy()[0].argmax(-1)).mean() >= INT8_AGREEMENT


def test_sum_merge_decoder_scopes_follow_the_original():
    """_decoder_with_sum_merge: ``decoder_conv0``, or ``decoder_split_sep_conv0_{depthwise,pointwise}``
    when separable and not logits (with logits the original forces a plain 1x1 conv)."""
    smoke = get_experiment(EXPERIMENTS["small"], smoke=True)
    for overrides, want in [
        ({}, {"decoder_conv1": "decoder/decoder_conv0"}),
        ({"model.decoder.separable": True}, {"decoder_conv1": "decoder/decoder_conv0"}),
        ({"model.decoder.separable": True, "model.decoder.output_is_logits": False},
         {"decoder_conv1_depthwise": "decoder/decoder_split_sep_conv0_depthwise",
          "decoder_conv1_pointwise": "decoder/decoder_split_sep_conv0_pointwise", "logits_conv": "logits/semantic"}),
    ]:  # fmt: skip
        config = override(smoke, overrides).model
        model, _ = build_deeplab_with_backbone(config)
        scopes, unnamed = mapping.conv_scopes(model, config)
        assert unnamed == [] and {name: scopes[name] for name in want} == want
        assert scopes["decoder_low_level"] == "decoder/feature_projection0"


@pytest.mark.parametrize("variant", ["large", "small"])
def test_the_zoo_evaluation_geometry(variant):
    """At the zoo's 1025x2049 evaluation crop (data.eval_size): 33x65 features at output stride 32,
    25x25-feature image pools at stride 4x5 in a 3x9 grid (model.py's scale_dimension of the 769x769
    image_pooling_crop_size), logits of the decoder at stride 8 (129x257); at the 769x769 training crop
    one global pool, as on smaller inputs."""
    experiment = get_experiment(EXPERIMENTS[variant])
    assert experiment.data.eval_size == (1025, 2049) and experiment.model.input_size == (769, 769)
    model, _ = build_deeplab_with_backbone(override(experiment, {"model.input_size": "1025,2049"}).model)
    assert model.get_layer("aspp_pool").pool_size == (25, 25) and model.get_layer("aspp_pool").strides == (4, 5)
    assert model.get_layer("aspp_pool").output_shape[1:3] == (3, 9)
    assert model.get_layer("aspp_gate").output_shape[1:] == (33, 65, ASPP_FILTERS)
    assert model.get_layer("decoder_sum").output_shape[1:] == (129, 257, CLASSES)
    assert model.output_shape == (None, 1025, 2049, CLASSES)
    train, _ = build_deeplab_with_backbone(experiment.model)
    assert train.get_layer("aspp_pool").output_shape[1:3] == (1, 1)
    # Smaller inputs, which the original cannot take, pool whole rows / columns as on its training crops:
    # 512x1024 gives 16x32 features, 16x25 windows, a 1x2 grid; 360x480 one global pool.
    for size, pool_size, grid in [("512,1024", (16, 25), (1, 2)), ("360,480", (12, 15), (1, 1))]:
        small, _ = build_deeplab_with_backbone(override(experiment, {"model.input_size": size}).model)
        assert small.get_layer("aspp_pool").pool_size == pool_size
        assert small.get_layer("aspp_pool").output_shape[1:3] == grid
