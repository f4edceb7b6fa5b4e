"""MobileNetV2 (https://arxiv.org/abs/1801.04381) with atrous output strides.

Layer names follow ``keras.applications.MobileNetV2`` so that its ImageNet
weights load by name; DeepLab stops at the last inverted residual block
(320 channels) and drops the 1280-channel head, as the original DeepLab does.
"""

from __future__ import annotations

import tf_keras as keras

from deeplab_tf.models.backbones import pretrained
from deeplab_tf.models.backbones.base import (
    MINUS_ONE_TO_ONE,
    AtrousTracker,
    BackboneSpec,
    register_backbone,
)
from deeplab_tf.models.layers import BN_EPSILON

# (expansion, filters, repeats, first stride) per stage, from the paper's Table 2.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# Which block ends each named level (block ids counted from 0).
_LEVEL_ENDS = {"C2": 2, "C3": 5, "C4": 12, "C5": 16}


def make_divisible(value: float, divisor: int = 8, min_value: int = 8) -> int:
    """Rounds channels to a multiple of ``divisor`` (at least ``min_value``), never dropping below 90%."""
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _inverted_residual(x, filters, expansion, stride, rate, block_id, bn_momentum):
    in_channels = x.shape[-1]
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    shortcut = x
    bn = dict(epsilon=BN_EPSILON, momentum=bn_momentum)
    if block_id:  # the expansion rounds to 8 at every width (as TF-slim's expand_input_by_factor)
        x = keras.layers.Conv2D(make_divisible(expansion * in_channels), 1, use_bias=False, name=prefix + "expand")(x)
        x = keras.layers.BatchNormalization(name=prefix + "expand_BN", **bn)(x)
        x = keras.layers.ReLU(6.0, name=prefix + "expand_relu")(x)
    x = keras.layers.DepthwiseConv2D(
        3, strides=stride, dilation_rate=rate, padding="same", use_bias=False, name=prefix + "depthwise"
    )(x)
    x = keras.layers.BatchNormalization(name=prefix + "depthwise_BN", **bn)(x)
    x = keras.layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=prefix + "project")(x)
    x = keras.layers.BatchNormalization(name=prefix + "project_BN", **bn)(x)
    if in_channels == filters and stride == 1:
        x = keras.layers.Add(name=prefix + "add")([shortcut, x])
    return x


def build_mobilenet_v2(inputs, config, bn_momentum: float = 0.99) -> dict:
    """MobileNetV2 feature levels C2 (stride 4) to C5 (``output_stride``)."""
    alpha, divisor = config.width_multiplier, config.channel_divisor
    atrous = AtrousTracker(config.output_stride)
    stride, rate = atrous(2)
    x = keras.layers.Conv2D(
        make_divisible(32 * alpha, divisor, divisor), 3, strides=stride, padding="same", use_bias=False, name="Conv1"
    )(inputs)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name="bn_Conv1")(x)
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(x)

    levels, block_id = {}, 0
    for expansion, filters, repeats, first_stride in _STAGES:
        # TF-slim's depth rule: at least ``divisor`` channels (min_depth 1 where it divides by 1)
        out_channels = make_divisible(filters * alpha if divisor < 8 else int(filters * alpha), divisor, divisor)
        for i in range(repeats):
            stride, rate = atrous(first_stride if i == 0 else 1)
            x = _inverted_residual(x, out_channels, expansion, stride, rate, block_id, bn_momentum)
            for level, end in _LEVEL_ENDS.items():
                if end == block_id:
                    levels[level] = x
            block_id += 1
    return levels


def _load(backbone, config, weights):
    pretrained.load_from_keras_application(
        backbone,
        lambda w: keras.applications.MobileNetV2(
            include_top=False, weights=w, alpha=config.width_multiplier, input_shape=(224, 224, 3)
        ),
        weights,
        config.name,
    )


register_backbone(
    BackboneSpec(
        name="mobilenet_v2",
        build=build_mobilenet_v2,
        preprocessing=MINUS_ONE_TO_ONE,
        load_pretrained=_load,
        widths=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
    )
)
