"""Xception-65, the modified aligned Xception of DeepLab v3+.

https://arxiv.org/abs/1802.02611 (Sec. 3.2, Fig. 4), following DeepLab's TF1
``core/xception.py`` ``xception_65``: every max-pool of Xception
(https://arxiv.org/abs/1610.02357) is a strided separable conv, the middle
flow has 16 units, and each separable conv is depthwise 3x3 + BN + ReLU +
pointwise 1x1 + BN + ReLU. As in DeepLab, ``config.multi_grid`` scales the
rates of the three separable convs of the last exit-flow block.
There are no Keras ImageNet weights: ``weights`` must be an .h5 file saved
from this backbone (``backbone.save_weights("xception65.h5")``).
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
from deeplab_tf.models.layers import conv_bn_act

MIDDLE_UNITS = 16


def _xception_block(x, depths, stride, shortcut, name, atrous, bn_momentum, grid=(1, 1, 1)):
    """Three separable convs (the last one strided) plus a shortcut.

    Args:
      shortcut: "conv" (strided 1x1 conv + BN), "sum" (identity) or "none".

    Returns:
      (block output, output of the second separable conv).
    """
    inputs, second = x, None
    for i, (depth, multiplier) in enumerate(zip(depths, grid, strict=True)):
        layer_stride, rate = atrous(stride if i == 2 else 1)
        x = conv_bn_act(
            x,
            depth,
            3,
            f"{name}_sepconv{i + 1}",
            strides=layer_stride,
            dilation_rate=rate * multiplier,
            bn_momentum=bn_momentum,
            separable=True,
        )
        if i == 1:
            second = x
    if shortcut == "conv":
        residual = conv_bn_act(
            inputs, depths[-1], 1, f"{name}_shortcut", strides=layer_stride, activation=None, bn_momentum=bn_momentum
        )
        x = keras.layers.Add(name=f"{name}_add")([residual, x])
    elif shortcut == "sum":
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x, second


def build_xception65(inputs, config, bn_momentum: float = 0.99) -> dict:
    """Xception-65 feature levels C2 (stride 4, 256 ch) to C5 (2048 ch)."""
    grid = check_multi_grid(config.multi_grid, 3)
    atrous = AtrousTracker(config.output_stride)
    stride, _ = atrous(2)
    x = conv_bn_act(inputs, 32, 3, "entry_flow_conv1_1", strides=stride, bn_momentum=bn_momentum)
    x = conv_bn_act(x, 64, 3, "entry_flow_conv1_2", bn_momentum=bn_momentum)

    levels = {}
    block = dict(atrous=atrous, bn_momentum=bn_momentum)
    x, _ = _xception_block(x, (128, 128, 128), 2, "conv", "entry_flow_block1", **block)
    x, levels["C2"] = _xception_block(x, (256, 256, 256), 2, "conv", "entry_flow_block2", **block)
    x, levels["C3"] = _xception_block(x, (728, 728, 728), 2, "conv", "entry_flow_block3", **block)
    for unit in range(1, MIDDLE_UNITS + 1):
        x, _ = _xception_block(x, (728, 728, 728), 1, "sum", f"middle_flow_block{unit}", **block)
    levels["C4"] = x
    x, _ = _xception_block(x, (728, 1024, 1024), 2, "conv", "exit_flow_block1", **block)
    x, _ = _xception_block(x, (1536, 1536, 2048), 1, "none", "exit_flow_block2", grid=grid, **block)
    levels["C5"] = x
    return levels


def _load(backbone, config, weights):
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
        load_pretrained=_load,
        widths=(1.0,),
    )
)
