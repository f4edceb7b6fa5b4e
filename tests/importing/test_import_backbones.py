"""deeplab-import of research/deeplab's Xception-65 (DeepLab v3+) and resnet_v1_50 checkpoints.

The checkpoints are written here from the original code's rules (core/xception.py xception_65,
core/resnet_v1_beta.py resnet_v1_50, model.py's heads), independently of
deeplab_tf.importing.mapping and of the Keras builders. The original backbones' forward passes
are written here too, in plain TF ops on the checkpoint values, and compared with the imported
Keras backbones level by level (the original decoder's end points).
"""

import deeplab_tf  # noqa: F401, I001  (selects Keras 2 before TensorFlow is imported)

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.configs import get_experiment, override
from deeplab_tf.export.export import find_checkpoint
from deeplab_tf.importing.importer import import_weights
from deeplab_tf.models import get_backbone_spec
from deeplab_tf.models.deeplab import build_deeplab_with_backbone
from deeplab_tf.artifacts.model_dir import restore_model

# Even, so that every stride-2 layer sees an even input: the original's fixed padding (1 before and
# 1 after; 3 and 3 for the 7x7 root) then differs from TF 'SAME' (0 before, 1 after), and the
# comparison with the original's forward pass would catch a misplaced pad.
SIZE = 96
# Batch-norm epsilons of the original (feature_extractor.py's xception_arg_scope and
# resnet_arg_scope; model.py's batch_norm_params for the heads).
XCEPTION_EPSILON, RESNET_EPSILON, HEAD_EPSILON = 1e-3, 1e-5, 1e-5
TRAINING_STATE = "global_step"

# core/xception.py xception_65: (block scope, units, depth_list, skip_connection_type,
# activation_fn_in_separable_conv, stride).
XCEPTION_65 = (
    ("entry_flow/block1", 1, (128, 128, 128), "conv", False, 2),
    ("entry_flow/block2", 1, (256, 256, 256), "conv", False, 2),
    ("entry_flow/block3", 1, (728, 728, 728), "conv", False, 2),
    ("middle_flow/block1", 16, (728, 728, 728), "sum", False, 1),
    ("exit_flow/block1", 1, (728, 1024, 1024), "conv", False, 2),
    ("exit_flow/block2", 1, (1536, 1536, 2048), "none", True, 1),
)


def resnet_v1_blocks(block3_units: int) -> tuple:
    """core/resnet_v1_beta.py resnet_v1_50 (block3_units 6) and resnet_v1_101 (23): (block scope,
    units, depth_bottleneck, stride of the last unit)."""
    return (("block1", 3, 64, 2), ("block2", 4, 128, 2), ("block3", block3_units, 256, 2), ("block4", 3, 512, 1))


RESNET_V1_50 = resnet_v1_blocks(6)
# root_block_fn_for_beta_variant: (scope, filters, stride) of each 3x3 conv2d_same.
BETA_ROOT = (("conv1_1", 64, 2), ("conv1_2", 64, 1), ("conv1_3", 128, 1))
# feature_extractor.py networks_to_feature_maps (decoder end points at strides 4, 8, 16).
XCEPTION_LEVELS = {
    "C2": "xception_65/entry_flow/block2/unit_1/xception_module/separable_conv2_pointwise",
    "C3": "xception_65/entry_flow/block3/unit_1/xception_module/separable_conv2_pointwise",
    "C4": "xception_65/exit_flow/block1/unit_1/xception_module/separable_conv2_pointwise",
    "C5": "output",
}
RESNET_LEVELS = {
    "C2": "resnet_v1_50/block1/unit_2/bottleneck_v1/conv3",
    "C3": "resnet_v1_50/block2/unit_3/bottleneck_v1/conv3",
    "C4": "resnet_v1_50/block3/unit_5/bottleneck_v1/conv3",
    "C5": "output",
}


# --- checkpoints with the original names -------------------------------------------------


class _Variables:
    """Original variables by name: slim.conv2d's ``weights`` (or separable_conv2d's
    ``depthwise_weights``), N(0, 1/fan_in) so that activations stay O(1), and its
    ``BatchNorm/{gamma,beta,moving_mean,moving_variance}`` (or ``biases`` without normalizer)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.values = {}

    def conv(self, scope: str, shape: list, depthwise: bool = False, bn: bool = True) -> int:
        fan_in = shape[0] * shape[1] * (1 if depthwise else shape[2])
        kernel = self.rng.standard_normal(shape, np.float32) / np.float32(np.sqrt(fan_in))
        self.values[f"{scope}/{'depthwise_weights' if depthwise else 'weights'}"] = kernel
        channels = shape[2] if depthwise else shape[3]
        if not bn:
            self.values[f"{scope}/biases"] = self.rng.normal(0, 0.1, channels).astype(np.float32)
            return channels
        for name, value in [("gamma", self.rng.uniform(0.5, 1.5, channels)), ("beta", self.rng.normal(0, 0.1, channels)),
                            ("moving_mean", self.rng.normal(0, 0.1, channels)),
                            ("moving_variance", self.rng.uniform(0.5, 1.5, channels))]:  # fmt: skip
            self.values[f"{scope}/BatchNorm/{name}"] = value.astype(np.float32)
        return channels


def _heads(variables: _Variables, channels: int, low_level: int, classes: int, aspp_separable: bool,
           decoder_separable: bool) -> None:  # fmt: skip
    """model.py's heads with aspp_with_batch_norm, three atrous rates and one decoder stage."""
    variables.conv("image_pooling", [1, 1, channels, 256])
    variables.conv("aspp0", [1, 1, channels, 256])
    for i in (1, 2, 3):
        if aspp_separable:  # split_separable_conv2d
            variables.conv(f"aspp{i}_depthwise", [3, 3, channels, 1], depthwise=True)
            variables.conv(f"aspp{i}_pointwise", [1, 1, channels, 256])
        else:
            variables.conv(f"aspp{i}", [3, 3, channels, 256])
    variables.conv("concat_projection", [1, 1, 5 * 256, 256])
    variables.conv("decoder/feature_projection0", [1, 1, low_level, 48])
    for i, depth_in in enumerate((256 + 48, 256)):
        if decoder_separable:
            variables.conv(f"decoder/decoder_conv{i}_depthwise", [3, 3, depth_in, 1], depthwise=True)
            variables.conv(f"decoder/decoder_conv{i}_pointwise", [1, 1, depth_in, 256])
        else:  # slim.repeat(features, 2, slim.conv2d, 256, 3, scope="decoder_conv0")
            variables.conv(f"decoder/decoder_conv0/decoder_conv0_{i + 1}", [3, 3, depth_in, 256])
    variables.conv("logits/semantic", [1, 1, 256, classes], bn=False)


def original_xception_65_variables(seed: int, classes: int = 21) -> dict:
    """xception_65 (regularize_depthwise=False: separable convs split in depthwise and pointwise)
    with the v3+ heads of the model zoo's Xception models (separable ASPP and decoder)."""
    variables = _Variables(seed)
    variables.conv("xception_65/entry_flow/conv1_1", [3, 3, 3, 32])
    channels = variables.conv("xception_65/entry_flow/conv1_2", [3, 3, 32, 64])
    for block, units, depths, skip, _, _ in XCEPTION_65:
        for unit in range(1, units + 1):
            scope = f"xception_65/{block}/unit_{unit}/xception_module"
            depth_in = channels
            for i, depth in enumerate(depths, start=1):
                variables.conv(f"{scope}/separable_conv{i}_depthwise", [3, 3, depth_in, 1], depthwise=True)
                depth_in = variables.conv(f"{scope}/separable_conv{i}_pointwise", [1, 1, depth_in, depth])
            if skip == "conv":
                variables.conv(f"{scope}/shortcut", [1, 1, channels, depths[-1]])
            channels = depths[-1]
    _heads(variables, channels, 256, classes, aspp_separable=True, decoder_separable=True)
    return variables.values


def original_resnet_v1_50_variables(seed: int, classes: int = 19, decoder_separable: bool = False) -> dict:
    """resnet_v1_50 (7x7 root; a shortcut conv where the depth changes) with dense ASPP heads."""
    variables = _Variables(seed)
    channels = original_resnet_v1_backbone(variables, "resnet_v1_50", RESNET_V1_50, beta=False)
    _heads(variables, channels, 256, classes, aspp_separable=False, decoder_separable=decoder_separable)
    return variables.values


def original_resnet_v1_backbone(variables: _Variables, scope: str, blocks: tuple, beta: bool) -> int:
    """The variables of resnet_v1_beta.py's network under ``scope``: the 7x7 ``conv1`` root or the
    beta variant's ``conv1_1..3``, then ``blocks``. Returns the output channels."""
    if beta:
        channels = 3
        for name, filters, _ in BETA_ROOT:
            channels = variables.conv(f"{scope}/{name}", [3, 3, channels, filters])
    else:
        channels = variables.conv(f"{scope}/conv1", [7, 7, 3, 64])
    for block, units, depth_bottleneck, _ in blocks:
        depth = 4 * depth_bottleneck
        for unit in range(1, units + 1):
            unit_scope = f"{scope}/{block}/unit_{unit}/bottleneck_v1"
            if channels != depth:
                variables.conv(f"{unit_scope}/shortcut", [1, 1, channels, depth])
            variables.conv(f"{unit_scope}/conv1", [1, 1, channels, depth_bottleneck])
            variables.conv(f"{unit_scope}/conv2", [3, 3, depth_bottleneck, depth_bottleneck])
            channels = variables.conv(f"{unit_scope}/conv3", [1, 1, depth_bottleneck, depth])
    return channels


def write_tf1_checkpoint(prefix, values: dict, step: int = 30000) -> str:
    """tf.compat.v1 Saver, as research/deeplab's training wrote it: the weights, one optimizer
    Momentum slot and global_step (fed through placeholders: no constants in the graph)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    first = next(iter(values))
    feed = {**values, f"{first}/Momentum": np.zeros_like(values[first])}
    with tf.Graph().as_default():
        placeholders = {name: tf.compat.v1.placeholder(tf.float32, value.shape) for name, value in feed.items()}
        variables = [tf.compat.v1.Variable(placeholders[name], name=name) for name in feed]
        variables.append(tf.compat.v1.Variable(np.int64(step), name=TRAINING_STATE))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer(),
                        {placeholders[name]: value for name, value in feed.items()})  # fmt: skip
            return saver.save(session, str(prefix), global_step=step, write_meta_graph=False)


# --- the original forward passes, in TF ops ------------------------------------------------


def _batch_norm(x, values, scope, epsilon):
    gamma, beta, mean, variance = (
        values[f"{scope}/BatchNorm/{n}"] for n in ("gamma", "beta", "moving_mean", "moving_variance")
    )
    return (x - mean) * (gamma / np.sqrt(variance + epsilon)) + beta


def _fixed_padding(x, kernel_size, rate=1):
    """xception.fixed_padding / the padding of resnet_utils.conv2d_same with stride > 1."""
    total = kernel_size + (kernel_size - 1) * (rate - 1) - 1
    before = total // 2
    return tf.pad(x, [[0, 0], [before, total - before], [before, total - before], [0, 0]])


def _conv(x, values, scope, epsilon, stride=1, rate=1, relu=True, conv2d_same=False):
    """slim.conv2d + BatchNorm (+ ReLU), 'SAME'; ``conv2d_same``: resnet_utils.conv2d_same."""
    kernel = values[f"{scope}/weights"]
    if conv2d_same and stride > 1:
        x = tf.nn.conv2d(_fixed_padding(x, kernel.shape[0], rate), kernel, stride, "VALID")
    else:
        x = tf.nn.conv2d(x, kernel, stride, "SAME", dilations=rate)
    x = _batch_norm(x, values, scope, epsilon)
    return tf.nn.relu(x) if relu else x


def _stride_and_rate(state, stride):
    """stack_blocks_dense: a unit past the output stride gets stride 1 and the current rate."""
    if state["current"] == state["target"]:
        rate = state["rate"]
        state["rate"] *= stride
        return 1, rate
    state["current"] *= stride
    return stride, 1


def original_xception_65(images, values, output_stride, multi_grid=(1, 1, 1)) -> dict:
    """xception_65 as DeepLab runs it (use_explicit_padding=True): its end points and output."""
    end_points, eps = {}, XCEPTION_EPSILON
    x = _conv(images, values, "xception_65/entry_flow/conv1_1", eps, stride=2, conv2d_same=True)
    x = _conv(x, values, "xception_65/entry_flow/conv1_2", eps, conv2d_same=True)
    state = {"target": output_stride // 2, "current": 1, "rate": 1}  # xception(): output_stride //= 2
    for block, units, _, skip, activation_in_separable_conv, block_stride in XCEPTION_65:
        unit_rates = multi_grid if block == "exit_flow/block2" else (1, 1, 1)
        for unit in range(1, units + 1):
            scope = f"xception_65/{block}/unit_{unit}/xception_module"
            stride, rate = _stride_and_rate(state, block_stride)
            residual = x
            for i in range(3):
                name = f"{scope}/separable_conv{i + 1}"
                conv_stride, conv_rate = stride if i == 2 else 1, rate * unit_rates[i]
                if not activation_in_separable_conv:
                    residual = tf.nn.relu(residual)
                kernel = values[f"{name}_depthwise/depthwise_weights"]
                if conv_stride == 1:
                    residual = tf.nn.depthwise_conv2d(residual, kernel, [1, 1, 1, 1], "SAME", dilations=[conv_rate] * 2)
                else:
                    padded = _fixed_padding(residual, 3, conv_rate)
                    residual = tf.nn.depthwise_conv2d(padded, kernel, [1, conv_stride, conv_stride, 1], "VALID")
                residual = _batch_norm(residual, values, f"{name}_depthwise", eps)
                if activation_in_separable_conv:
                    residual = tf.nn.relu(residual)
                residual = _conv(residual, values, f"{name}_pointwise", eps, relu=activation_in_separable_conv)
                end_points[f"{name}_pointwise"] = residual
            if skip == "conv":
                x = residual + _conv(x, values, f"{scope}/shortcut", eps, stride=stride, relu=False)
            elif skip == "sum":
                x = residual + x
            else:
                x = residual
    end_points["output"] = x
    return end_points


def original_resnet_v1_50(images, values, output_stride, multi_grid=(1, 1, 1)) -> dict:
    """resnet_v1_beta.resnet_v1_50 as DeepLab runs it: its end points and output."""
    return original_resnet_v1(images, values, output_stride, multi_grid, "resnet_v1_50", RESNET_V1_50, beta=False)


def original_resnet_v1(images, values, output_stride, multi_grid, scope, blocks, beta) -> dict:
    """resnet_v1_beta.py's network under ``scope`` as DeepLab runs it (``beta``: the root of
    root_block_fn_for_beta_variant): its end points and output."""
    end_points, eps = {}, RESNET_EPSILON
    if beta:
        x = images
        for name, _, stride in BETA_ROOT:
            x = _conv(x, values, f"{scope}/{name}", eps, stride=stride, conv2d_same=True)
    else:
        x = _conv(images, values, f"{scope}/conv1", eps, stride=2, conv2d_same=True)
    x = tf.nn.max_pool2d(x, 3, 2, "SAME")  # pool1
    state = {"target": output_stride // 4, "current": 1, "rate": 1}  # resnet_v1_beta: output_stride /= 4
    for block, units, depth_bottleneck, last_stride in blocks:
        for unit in range(1, units + 1):
            unit_scope = f"{scope}/{block}/unit_{unit}/bottleneck_v1"
            stride, rate = _stride_and_rate(state, last_stride if unit == units else 1)
            unit_rate = multi_grid[unit - 1] if block == "block4" else 1
            if x.shape[-1] == 4 * depth_bottleneck:
                shortcut = tf.nn.max_pool2d(x, 1, stride, "SAME")  # resnet_utils.subsample
            else:
                shortcut = _conv(x, values, f"{unit_scope}/shortcut", eps, stride=stride, relu=False)
            residual = _conv(x, values, f"{unit_scope}/conv1", eps)
            residual = _conv(residual, values, f"{unit_scope}/conv2", eps, stride, rate * unit_rate, conv2d_same=True)
            residual = _conv(residual, values, f"{unit_scope}/conv3", eps, relu=False)
            end_points[f"{unit_scope}/conv3"] = residual
            x = tf.nn.relu(shortcut + residual)
    end_points["output"] = x
    return end_points


# --- imports ------------------------------------------------------------------------------


def _import(tmp_path, values, experiment, overrides):
    prefix = write_tf1_checkpoint(tmp_path / "zoo" / "model.ckpt", values)
    config = override(get_experiment(experiment), {"model.input_size": f"{SIZE},{SIZE}", **overrides})
    record = import_weights(prefix, config, str(tmp_path / "run"))
    model, backbone = build_deeplab_with_backbone(config.model)
    restore_model(model, find_checkpoint(str(tmp_path / "run")))
    return {"values": values, "config": config, "record": record, "model": model, "backbone": backbone}


@pytest.fixture(scope="module")
def xception(tmp_path_factory):
    values = original_xception_65_variables(seed=0)
    return _import(tmp_path_factory.mktemp("xception"), values, "deeplabv3plus_xception65_pascal_original", {})


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    # The experiment's dense decoder is imported with the separable decoder of the original's
    # decoder_use_separable_conv=True: see test_resnet_original_dense_decoder_imports.
    values = original_resnet_v1_50_variables(seed=1, decoder_separable=True)
    return _import(tmp_path_factory.mktemp("resnet"), values, "deeplabv3plus_resnet50_cityscapes_original",
                   {"model.decoder.separable": "true"})  # fmt: skip


def _check_record(imported):
    values, record = imported["values"], imported["record"]
    assert record["kind"] == "tf1_checkpoint" and record["variables_used"] == len(values)
    assert sorted(record["variables_ignored"]) == sorted([f"{next(iter(values))}/Momentum", TRAINING_STATE])
    assert record["derived"] == []


def _check_weights(model, values, pairs):
    for layer, attribute, name in pairs:
        np.testing.assert_array_equal(getattr(model.get_layer(layer), attribute).numpy(), values[name], err_msg=layer)


def _check_batch_norm(model, values, layer, scope, epsilon):
    """The imported batch norm computes the original's, whatever the two epsilons."""
    bn = model.get_layer(layer)
    x = np.random.default_rng(5).normal(0, 1, (4, 1, 1, bn.gamma.shape[0])).astype(np.float32)
    want = _batch_norm(x, values, scope, epsilon)
    np.testing.assert_allclose(bn(x, training=False).numpy(), want, rtol=1e-5, atol=1e-5)


def _compare_levels(backbone, end_points, levels):
    got = backbone(end_points.pop("images"), training=False)
    for level, end_point in levels.items():
        want = end_points[end_point].numpy()
        assert got[level].shape == want.shape, level
        scale = np.abs(want).max()
        assert scale > 1e-2, level  # not a comparison of zeros
        np.testing.assert_allclose(got[level].numpy(), want, rtol=1e-4, atol=1e-4 * scale, err_msg=level)


# --- Xception-65 ----------------------------------------------------------------------------


def test_xception65_checkpoint_imports_every_variable_where_the_original_had_it(xception):
    _check_record(xception)
    model, values = xception["model"], xception["values"]
    prefix = "xception_65/entry_flow/block1/unit_1/xception_module"
    _check_weights(model, values, [
        ("entry_flow_conv1_1", "kernel", "xception_65/entry_flow/conv1_1/weights"),
        ("entry_flow_block1_unit_1_separable_conv1_depthwise", "depthwise_kernel", f"{prefix}/separable_conv1_depthwise/depthwise_weights"),
        ("entry_flow_block1_unit_1_shortcut", "kernel", f"{prefix}/shortcut/weights"),
        ("middle_flow_block1_unit_16_separable_conv3_pointwise", "kernel",
         "xception_65/middle_flow/block1/unit_16/xception_module/separable_conv3_pointwise/weights"),
        ("exit_flow_block2_unit_1_separable_conv3_pointwise_bn", "beta",
         "xception_65/exit_flow/block2/unit_1/xception_module/separable_conv3_pointwise/BatchNorm/beta"),
        ("aspp_atrous12_depthwise", "depthwise_kernel", "aspp2_depthwise/depthwise_weights"),
        ("decoder_low_level", "kernel", "decoder/feature_projection0/weights"),
        ("decoder_conv2_pointwise", "kernel", "decoder/decoder_conv1_pointwise/weights"),
        ("logits_conv", "bias", "logits/semantic/biases"),
    ])  # fmt: skip
    _check_batch_norm(model, values, "middle_flow_block1_unit_7_separable_conv2_depthwise_bn",
                      "xception_65/middle_flow/block1/unit_7/xception_module/separable_conv2_depthwise", XCEPTION_EPSILON)  # fmt: skip
    _check_batch_norm(model, values, "decoder_conv1_depthwise_bn", "decoder/decoder_conv0_depthwise", HEAD_EPSILON)
    _check_batch_norm(model, values, "aspp_atrous6_depthwise_bn", "aspp1_depthwise", HEAD_EPSILON)


def test_xception65_computes_the_original_backbone(xception):
    images = tf.constant(np.random.default_rng(2).uniform(-1, 1, (1, SIZE, SIZE, 3)), tf.float32)
    end_points = original_xception_65(images, xception["values"], output_stride=16)
    _compare_levels(xception["backbone"], {**end_points, "images": images}, XCEPTION_LEVELS)


def test_xception65_layers_are_in_the_originals_order(xception):
    model = xception["model"]

    def source(name):
        (node,) = model.get_layer(name).inbound_nodes
        return node.inbound_layers

    unit = "entry_flow_block2_unit_1"
    # pre-activation: a ReLU on the module input, none between depthwise and pointwise
    assert isinstance(source(f"{unit}_separable_conv1_depthwise"), keras.layers.ReLU)
    assert isinstance(source(f"{unit}_separable_conv1_pointwise"), keras.layers.BatchNormalization)
    # the shortcut takes the module input before that ReLU
    assert source(f"{unit}_shortcut") is source(source(f"{unit}_separable_conv1_depthwise").name)
    # the stride on separable_conv3's depthwise only, after fixed padding
    strided = model.get_layer(f"{unit}_separable_conv3_depthwise")
    assert strided.strides == (2, 2) and strided.padding == "valid"
    assert source(strided.name).padding == ((1, 1), (1, 1))
    assert all(model.get_layer(f"{unit}_separable_conv{i}_depthwise").strides == (1, 1) for i in (1, 2))
    # exit_flow/block2: ReLU after the depthwise and the pointwise batch norms, not before
    exit2 = "exit_flow_block2_unit_1_separable_conv1"
    assert isinstance(source(f"{exit2}_depthwise"), keras.layers.Add)  # exit_flow/block1's un-ReLU'd sum
    assert isinstance(source(f"{exit2}_pointwise"), keras.layers.ReLU)
    rates = [model.get_layer(f"exit_flow_block2_unit_1_separable_conv{i}_depthwise").dilation_rate for i in (1, 2, 3)]
    assert rates == [(2, 2)] * 3  # output stride 16, no multi-grid
    assert source("aspp_concat")[0].name.startswith("aspp_pool")  # image pooling concatenated first


# --- ResNet-50 (resnet_v1_50) ---------------------------------------------------------------


def test_resnet_v1_50_checkpoint_imports_every_variable_where_the_original_had_it(resnet):
    _check_record(resnet)
    model, values = resnet["model"], resnet["values"]
    _check_weights(model, values, [
        ("conv1", "kernel", "resnet_v1_50/conv1/weights"),
        ("block1_unit_1_shortcut", "kernel", "resnet_v1_50/block1/unit_1/bottleneck_v1/shortcut/weights"),
        ("block3_unit_6_conv2", "kernel", "resnet_v1_50/block3/unit_6/bottleneck_v1/conv2/weights"),
        ("block4_unit_3_conv3_bn", "moving_mean", "resnet_v1_50/block4/unit_3/bottleneck_v1/conv3/BatchNorm/moving_mean"),
        ("aspp_atrous18", "kernel", "aspp3/weights"),
        ("aspp_project", "kernel", "concat_projection/weights"),
        ("decoder_low_level", "kernel", "decoder/feature_projection0/weights"),
    ])  # fmt: skip
    _check_batch_norm(model, values, "block2_unit_2_conv1_bn", "resnet_v1_50/block2/unit_2/bottleneck_v1/conv1",
                      RESNET_EPSILON)  # fmt: skip
    _check_batch_norm(model, values, "aspp_atrous6_bn", "aspp1", HEAD_EPSILON)
    assert get_backbone_spec("resnet50_deeplab").preprocessing.to_dict() == {
        "color_order": "RGB", "mean": [123.15, 115.90, 103.06], "std": [1.0, 1.0, 1.0]}  # fmt: skip


def test_resnet_v1_50_computes_the_original_backbone(resnet):
    images = tf.constant(np.random.default_rng(3).normal(0, 60, (1, SIZE, SIZE, 3)), tf.float32)
    end_points = original_resnet_v1_50(images, resnet["values"], output_stride=16, multi_grid=(1, 2, 4))
    _compare_levels(resnet["backbone"], {**end_points, "images": images}, RESNET_LEVELS)


def test_resnet_v1_50_layers_are_in_the_originals_order(resnet):
    model = resnet["model"]
    shortcuts = sorted(layer.name for layer in model.layers if layer.name.endswith("_shortcut"))
    assert shortcuts == [f"block{b}_unit_1_shortcut" for b in (1, 2, 3, 4)]  # only where the depth changes
    for block, units in ((1, 3), (2, 4)):  # the stride on the last unit's 3x3 conv2, after fixed padding
        conv2 = model.get_layer(f"block{block}_unit_{units}_conv2")
        assert conv2.strides == (2, 2) and conv2.padding == "valid"
        assert model.get_layer(f"block{block}_unit_{units}_conv2_pad").padding == ((1, 1), (1, 1))
        assert model.get_layer(f"block{block}_unit_{units}_conv1").strides == (1, 1)
        assert model.get_layer(f"block{block}_unit_{units}_shortcut_subsample").strides == (2, 2)
    assert model.get_layer("conv1_pad").padding == ((3, 3), (3, 3)) and model.get_layer("pool1").padding == "same"
    assert model.get_layer("block3_unit_6_conv2").strides == (1, 1)  # output stride 16
    rates = [model.get_layer(f"block4_unit_{u}_conv2").dilation_rate for u in (1, 2, 3)]
    assert rates == [(2, 2), (4, 4), (8, 8)]  # rate 2 times multi-grid (1, 2, 4)


def test_resnet_original_dense_decoder_imports(resnet, tmp_path):
    values = {name: value for name, value in resnet["values"].items() if "/decoder_conv" not in name}
    dense = _Variables(seed=4)
    for i, depth_in in enumerate((256 + 48, 256), start=1):
        dense.conv(f"decoder/decoder_conv0/decoder_conv0_{i}", [3, 3, depth_in, 256])
    prefix = write_tf1_checkpoint(tmp_path / "model.ckpt", {**values, **dense.values})
    config = override(
        get_experiment("deeplabv3plus_resnet50_cityscapes_original"), {"model.input_size": f"{SIZE},{SIZE}"}
    )
    record = import_weights(prefix, config, str(tmp_path / "run"))
    assert record["variables_used"] == len(values) + len(dense.values)
