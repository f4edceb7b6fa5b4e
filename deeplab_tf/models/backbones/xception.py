"""Xception-65, the modified aligned Xception of DeepLab v3+, as the original builds it.

https://arxiv.org/abs/1802.02611 (Sec. 3.2, Fig. 4), layer for layer the original DeepLab's
``core/xception.py`` ``xception_65`` (research/deeplab), so that its released weights import
(``deeplab_tf.importing``) and compute what they computed there:

- entry flow ``conv1_1`` (3x3, 32, stride 2) and ``conv1_2`` (3x3, 64), conv + BN + ReLU;
- blocks of Xception modules: three separable convs (depthwise 3x3 + BN, pointwise 1x1 + BN)
  and a shortcut (``conv``: 1x1 conv + BN of the module input, ``sum``: the input itself, or
  none). Every module but exit_flow/block2 is pre-activated: a ReLU on the input of each
  separable conv, none between depthwise and pointwise, and the shortcut takes the input
  before that ReLU. exit_flow/block2 (``activation_fn_in_separable_conv``) has a ReLU after
  its depthwise and after its pointwise convs instead, so the backbone ends with a ReLU;
- a block's stride is on its third depthwise conv, after the original's fixed padding
  (``fixed_padding``: (k_eff - 1) // 2 before, the rest after, then VALID); stride 1 is SAME;
- output stride as the original's ``stack_blocks_dense``: the first unit past the output
  stride gets stride 1 and the current rate, and later units a rate multiplied by its stride;
  every separable conv of a unit takes the unit's rate (times ``config.multi_grid`` in
  exit_flow/block2);
- batch-norm epsilon 1e-3 (DeepLab's ``xception_arg_scope``), no biases.

Levels are the original decoder's end points: C2, C3 and C4 the (pre-activation) outputs of
``separable_conv2_pointwise`` of entry_flow/block2 (256 ch), entry_flow/block3 (728) and
exit_flow/block1 (1024), each before its block's stride; C5 the backbone output (2048).
Layer ``{flow}_block{b}_unit_{u}_separable_conv{i}_{depthwise|pointwise}`` is the original's
``xception_65/{flow}/block{b}/unit_{u}/xception_module/separable_conv{i}_{...}``.
There are no Keras ImageNet weights: ``weights`` must be an .h5 file saved from this backbone
(``backbone.save_weights("xception65.h5")``); released DeepLab weights come in by deeplab-import.
"""

from __future__ import annotations

import os

import h5py
import tf_keras as keras

from deeplab_tf.models.backbones.base import (
    MINUS_ONE_TO_ONE,
    AtrousTracker,
    BackboneSpec,
    register_backbone,
)
from deeplab_tf.models.backbones.resnet import check_multi_grid

MIDDLE_UNITS = 16
# research/deeplab feature_extractor: xception_arg_scope(batch_norm_epsilon=1e-3).
XCEPTION_BN_EPSILON = 1e-3
# (flow, block, units, depths, shortcut, activation inside the separable convs, stride)
BLOCKS = (
    ("entry_flow", 1, 1, (128, 128, 128), "conv", False, 2),
    ("entry_flow", 2, 1, (256, 256, 256), "conv", False, 2),
    ("entry_flow", 3, 1, (728, 728, 728), "conv", False, 2),
    ("middle_flow", 1, MIDDLE_UNITS, (728, 728, 728), "sum", False, 1),
    ("exit_flow", 1, 1, (728, 1024, 1024), "conv", False, 2),
    ("exit_flow", 2, 1, (1536, 1536, 2048), "none", True, 1),
)
# Level -> the block whose separable_conv2_pointwise it is (feature_extractor's decoder end points).
_LEVEL_BLOCKS = {("entry_flow", 2): "C2", ("entry_flow", 3): "C3", ("exit_flow", 1): "C4"}


def fixed_padding(x, kernel_size: int, stride: int, rate: int, name: str):
    """The padding of the original's strided convs (xception ``fixed_padding``, resnet_utils
    ``conv2d_same``): with stride > 1, (k_eff - 1) // 2 zeros before and the rest after, the
    conv then VALID; with stride 1 the conv is SAME. Returns ``(x, padding of the conv)``."""
    if stride == 1:
        return x, "same"
    total = kernel_size + (kernel_size - 1) * (rate - 1) - 1
    if total == 0:
        return x, "valid"
    pad = (total // 2, total - total // 2)
    return keras.layers.ZeroPadding2D((pad, pad), name=name)(x), "valid"


def _bn(x, name, bn_momentum):
    return keras.layers.BatchNormalization(epsilon=XCEPTION_BN_EPSILON, momentum=bn_momentum, name=name)(x)


def _separable_conv(x, depth, name, stride, rate, activation_inside, bn_momentum):
    """The original's ``separable_conv2d_same`` split in two (regularize_depthwise False):
    depthwise 3x3 + BN, pointwise 1x1 + BN; ReLUs as the module's ``activation_fn_in_separable_conv``."""
    if not activation_inside:
        x = keras.layers.ReLU(name=f"{name}_input_relu")(x)
    x, padding = fixed_padding(x, 3, stride, rate, f"{name}_pad")
    x = keras.layers.DepthwiseConv2D(
        3, strides=stride, dilation_rate=rate, padding=padding, use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = _bn(x, f"{name}_depthwise_bn", bn_momentum)
    if activation_inside:
        x = keras.layers.ReLU(name=f"{name}_depthwise_relu")(x)
    x = keras.layers.Conv2D(depth, 1, use_bias=False, name=f"{name}_pointwise")(x)
    x = _bn(x, f"{name}_pointwise_bn", bn_momentum)
    if activation_inside:
        x = keras.layers.ReLU(name=f"{name}_pointwise_relu")(x)
    return x


def _xception_module(x, depths, shortcut, activation_inside, stride, rates, name, bn_momentum):
    """One ``xception_module``: returns (its output, the output of separable_conv2_pointwise)."""
    inputs, second = x, None
    for i, (depth, rate) in enumerate(zip(depths, rates, strict=True)):
        x = _separable_conv(
            x, depth, f"{name}_separable_conv{i + 1}", stride if i == 2 else 1, rate, activation_inside, bn_momentum
        )
        if i == 1:
            second = x
    if shortcut == "conv":
        residual = keras.layers.Conv2D(
            depths[-1], 1, strides=stride, padding="same", use_bias=False, name=f"{name}_shortcut"
        )(inputs)
        residual = _bn(residual, f"{name}_shortcut_bn", bn_momentum)
        x = keras.layers.Add(name=f"{name}_add")([x, residual])
    elif shortcut == "sum":
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x, second


def build_xception65(inputs, config, bn_momentum: float = 0.99) -> dict:
    """Xception-65 feature levels C2 (stride 4, 256 ch), C3 (8, 728), C4 (16, 1024), C5 (2048)."""
    grid = check_multi_grid(config.multi_grid, 3)
    atrous = AtrousTracker(config.output_stride)
    stride, _ = atrous(2)
    x, padding = fixed_padding(inputs, 3, stride, 1, "entry_flow_conv1_1_pad")
    for name, filters, conv_stride in (("entry_flow_conv1_1", 32, stride), ("entry_flow_conv1_2", 64, 1)):
        x = keras.layers.Conv2D(filters, 3, strides=conv_stride, padding=padding, use_bias=False, name=name)(x)
        x = _bn(x, f"{name}_bn", bn_momentum)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
        padding = "same"

    levels = {}
    for flow, block, units, depths, shortcut, activation_inside, block_stride in BLOCKS:
        multipliers = grid if (flow, block) == ("exit_flow", 2) else (1, 1, 1)
        for unit in range(1, units + 1):
            unit_stride, rate = atrous(block_stride)
            x, second = _xception_module(
                x,
                depths,
                shortcut,
                activation_inside,
                unit_stride,
                tuple(rate * m for m in multipliers),
                f"{flow}_block{block}_unit_{unit}",
                bn_momentum,
            )
        if (flow, block) in _LEVEL_BLOCKS:
            levels[_LEVEL_BLOCKS[flow, block]] = second
    levels["C5"] = x
    return levels


def load_weights_file(backbone, config, weights):
    """Loads an .h5 file saved from this backbone (or a model containing it) by layer name.

    Raises:
      ValueError: ``weights="imagenet"`` or a file that is not HDF5.
      FileNotFoundError: a path that does not exist.
      RuntimeError: weighted layers of the backbone missing in the file.
    """
    if weights == "imagenet":
        raise ValueError(
            f"no Keras ImageNet weights exist for {config.name}; pass the path of an .h5 "
            "weights file saved from this backbone as backbone weights, or none for random "
            "initialisation"
        )
    if not os.path.exists(weights):
        raise FileNotFoundError(f"backbone weights file {weights!r} does not exist")
    if not h5py.is_hdf5(weights):
        raise ValueError(f"{config.name} weights must be an .h5 file (save_weights to *.h5), got {weights!r}")
    with h5py.File(weights, "r") as f:
        group = f.get("model_weights", f)
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("layer_names", [])]
        stored = {n for n in names if len(group[n].attrs.get("weight_names", []))}
    missing = [layer.name for layer in backbone.layers if layer.weights and layer.name not in stored]
    if missing:
        raise RuntimeError(
            f"weights file {weights!r} lacks {len(missing)} weighted layers of {config.name}: "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )
    backbone.load_weights(weights, by_name=True)


register_backbone(
    BackboneSpec(
        name="xception65",
        build=build_xception65,
        preprocessing=MINUS_ONE_TO_ONE,
        load_pretrained=load_weights_file,
        widths=(1.0,),
    )
)
