"""MobileNetV3-Large and -Small (https://arxiv.org/abs/1905.02244) with atrous output strides.

Layer names follow ``keras.applications.MobileNetV3Large/Small`` (non-minimalistic)
so that their ImageNet weights load by name. Differences from keras: hard-swish
and hard-sigmoid are the quantizable layers of ``deeplab_tf.models.activations``
instead of raw tensor ops, and strided depthwise convolutions use "same" padding
instead of ZeroPadding2D + "valid" (the same padding, for odd and even sizes).

``mobilenet_v3_large_seg`` and ``mobilenet_v3_small_seg`` are research/deeplab's
segmentation variants (core/feature_extractor.py), whose released Cityscapes weights
deeplab-import reads: the last stage halved (outputs and expansions, and so the final
1x1 conv: 480 / 288 channels) and the levels C2..C4 taken where the original's decoder
reads them, the depthwise output (after batch norm and activation, before
squeeze-excite) of the same blocks. Their layer names are TF-slim's scopes under
``MobilenetV3/`` (keras.applications took its names from them).

C5 includes the final 1x1 conv (``Conv_1``: 960 channels for Large, 576 for
Small, + BN + hard-swish), as the paper's segmentation head (Sec. 6.4), the
TF-slim DeepLab ``mobilenet_v3_*_seg`` feature extractors, TF Model Garden and
torchvision's DeepLabV3-MobileNetV3 do: it is pretrained, and a 160-channel
bottleneck output (linear, no activation) is a poor ASPP input. It makes C5
wide, so prefer a light ASPP (1x1 + image pooling) on these backbones.
"""

from __future__ import annotations

import tf_keras as keras

from deeplab_tf.models.activations import HardSigmoid, HardSwish
from deeplab_tf.models.backbones import pretrained
from deeplab_tf.models.backbones.base import (
    MINUS_ONE_TO_ONE,
    AtrousTracker,
    BackboneSpec,
    register_backbone,
)
from deeplab_tf.models.backbones.mobilenet_v2 import make_divisible
from deeplab_tf.models.layers import BN_EPSILON

# (kernel, expansion, filters, stride, squeeze-excite, activation) per block,
# from the paper's Tables 1 and 2 (as in keras.applications).
_LARGE = (
    (3, 1, 16, 1, False, "relu"),
    (3, 4, 24, 2, False, "relu"),
    (3, 3, 24, 1, False, "relu"),
    (5, 3, 40, 2, True, "relu"),
    (5, 3, 40, 1, True, "relu"),
    (5, 3, 40, 1, True, "relu"),
    (3, 6, 80, 2, False, "hard_swish"),
    (3, 2.5, 80, 1, False, "hard_swish"),
    (3, 2.3, 80, 1, False, "hard_swish"),
    (3, 2.3, 80, 1, False, "hard_swish"),
    (3, 6, 112, 1, True, "hard_swish"),
    (3, 6, 112, 1, True, "hard_swish"),
    (5, 6, 160, 2, True, "hard_swish"),
    (5, 6, 160, 1, True, "hard_swish"),
    (5, 6, 160, 1, True, "hard_swish"),
)
_SMALL = (
    (3, 1, 16, 2, True, "relu"),
    (3, 72 / 16, 24, 2, False, "relu"),
    (3, 88 / 24, 24, 1, False, "relu"),
    (5, 4, 40, 2, True, "hard_swish"),
    (5, 6, 40, 1, True, "hard_swish"),
    (5, 6, 40, 1, True, "hard_swish"),
    (5, 3, 48, 1, True, "hard_swish"),
    (5, 3, 48, 1, True, "hard_swish"),
    (5, 6, 96, 2, True, "hard_swish"),
    (5, 6, 96, 1, True, "hard_swish"),
    (5, 6, 96, 1, True, "hard_swish"),
)
# research/deeplab's mobilenet_v3_*_seg: the last stage at half width, each expansion the
# original's (large: 336 = 3 x 112, then 480 = 6 x 80; small: 144 = 3 x 48, then 288 = 6 x 48).
_LARGE_SEG = (*_LARGE[:12], (5, 3, 80, 2, True, "hard_swish"), (5, 6, 80, 1, True, "hard_swish"),
              (5, 6, 80, 1, True, "hard_swish"))  # fmt: skip
_SMALL_SEG = (*_SMALL[:8], (5, 3, 48, 2, True, "hard_swish"), (5, 6, 48, 1, True, "hard_swish"),
              (5, 6, 48, 1, True, "hard_swish"))  # fmt: skip
# Which block gives each of C2..C4 (C5 is the Conv_1 output): its output, or for the seg variants
# its depthwise output (the original's decoder end points layer_4/7/13 and layer_2/4/9).
_LEVEL_ENDS = {"large": {"C2": 2, "C3": 5, "C4": 11}, "small": {"C2": 0, "C3": 2, "C4": 7}}
_SE_RATIO = 0.25


def _activation(x, kind, name):
    if kind == "relu":
        return keras.layers.ReLU(name=f"{name}/relu")(x)
    return HardSwish(name=f"{name}/hard_swish")(x)


def _squeeze_excite(inputs, filters, prefix):
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name=prefix + "squeeze_excite/AvgPool")(inputs)
    x = keras.layers.Conv2D(make_divisible(filters * _SE_RATIO), 1, name=prefix + "squeeze_excite/Conv")(x)
    x = keras.layers.ReLU(name=prefix + "squeeze_excite/Relu")(x)
    x = keras.layers.Conv2D(filters, 1, name=prefix + "squeeze_excite/Conv_1")(x)
    x = HardSigmoid(name=prefix + "squeeze_excite/hard_sigmoid")(x)
    return keras.layers.Multiply(name=prefix + "squeeze_excite/Mul")([inputs, x])


def _inverted_residual(x, kernel, expansion, filters, stride, rate, se, act, block_id, bn_momentum):
    in_channels = x.shape[-1]
    expanded = make_divisible(in_channels * expansion)
    prefix = f"expanded_conv_{block_id}/" if block_id else "expanded_conv/"
    shortcut = x
    bn = dict(epsilon=BN_EPSILON, momentum=bn_momentum)
    if block_id:
        x = keras.layers.Conv2D(expanded, 1, use_bias=False, name=prefix + "expand")(x)
        x = keras.layers.BatchNormalization(name=prefix + "expand/BatchNorm", **bn)(x)
        x = _activation(x, act, prefix + "expand")
    x = keras.layers.DepthwiseConv2D(
        kernel, strides=stride, dilation_rate=rate, padding="same", use_bias=False, name=prefix + "depthwise"
    )(x)
    x = keras.layers.BatchNormalization(name=prefix + "depthwise/BatchNorm", **bn)(x)
    x = depthwise = _activation(x, act, prefix + "depthwise")
    if se:
        x = _squeeze_excite(x, expanded, prefix)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=prefix + "project")(x)
    x = keras.layers.BatchNormalization(name=prefix + "project/BatchNorm", **bn)(x)
    if stride == 1 and in_channels == filters:
        x = keras.layers.Add(name=prefix + "Add")([shortcut, x])
    return x, depthwise


def _build(inputs, config, blocks, level_ends, bn_momentum, depthwise_levels=False):
    alpha = config.width_multiplier
    bn = dict(epsilon=BN_EPSILON, momentum=bn_momentum)
    atrous = AtrousTracker(config.output_stride)
    stride, _ = atrous(2)
    # keras keeps the stem at 16 channels whatever alpha is.
    x = keras.layers.Conv2D(16, 3, strides=stride, padding="same", use_bias=False, name="Conv")(inputs)
    x = keras.layers.BatchNormalization(name="Conv/BatchNorm", **bn)(x)
    x = HardSwish(name="Conv/hard_swish")(x)

    levels = {}
    for block_id, (kernel, expansion, filters, nominal_stride, se, act) in enumerate(blocks):
        stride, rate = atrous(nominal_stride)
        x, depthwise = _inverted_residual(
            x, kernel, expansion, make_divisible(filters * alpha), stride, rate, se, act, block_id, bn_momentum
        )
        for level, end in level_ends.items():
            if end == block_id:
                levels[level] = depthwise if depthwise_levels else x
    x = keras.layers.Conv2D(make_divisible(x.shape[-1] * 6), 1, use_bias=False, name="Conv_1")(x)
    x = keras.layers.BatchNormalization(name="Conv_1/BatchNorm", **bn)(x)
    levels["C5"] = HardSwish(name="Conv_1/hard_swish")(x)
    return levels


def build_mobilenet_v3_large(inputs, config, bn_momentum: float = 0.99) -> dict:
    """MobileNetV3-Large levels: C2 24 ch (stride 4), C3 40, C4 112, C5 960 (``output_stride``)."""
    return _build(inputs, config, _LARGE, _LEVEL_ENDS["large"], bn_momentum)


def build_mobilenet_v3_small(inputs, config, bn_momentum: float = 0.99) -> dict:
    """MobileNetV3-Small levels: C2 16 ch (stride 4), C3 24, C4 48, C5 576 (``output_stride``)."""
    return _build(inputs, config, _SMALL, _LEVEL_ENDS["small"], bn_momentum)


def build_mobilenet_v3_large_seg(inputs, config, bn_momentum: float = 0.99) -> dict:
    """research/deeplab's mobilenet_v3_large_seg levels: C2 72 ch (stride 4), C3 120, C4 672, C5 480."""
    return _build(inputs, config, _LARGE_SEG, _LEVEL_ENDS["large"], bn_momentum, depthwise_levels=True)


def build_mobilenet_v3_small_seg(inputs, config, bn_momentum: float = 0.99) -> dict:
    """research/deeplab's mobilenet_v3_small_seg levels: C2 16 ch (stride 4), C3 88, C4 144, C5 288."""
    return _build(inputs, config, _SMALL_SEG, _LEVEL_ENDS["small"], bn_momentum, depthwise_levels=True)


def keras_application(name: str, alpha: float, weights: str | None, input_shape=(224, 224, 3)) -> keras.Model:
    """The matching ``keras.applications`` model (no top, no preprocessing)."""
    factory = keras.applications.MobileNetV3Large if name.endswith("large") else keras.applications.MobileNetV3Small
    return factory(
        input_shape=input_shape,
        alpha=alpha,
        minimalistic=False,
        include_top=False,
        weights=weights,
        include_preprocessing=False,
    )


def _load(backbone, config, weights):
    pretrained.load_from_keras_application(
        backbone,
        lambda w: keras_application(config.name, config.width_multiplier, w),
        weights,
        config.name,
    )


for _name, _builder in (
    ("mobilenet_v3_large", build_mobilenet_v3_large),
    ("mobilenet_v3_small", build_mobilenet_v3_small),
):
    register_backbone(
        BackboneSpec(
            name=_name,
            build=_builder,
            preprocessing=MINUS_ONE_TO_ONE,
            load_pretrained=_load,
            widths=(0.75, 1.0),
        )
    )

for _name, _builder in (
    ("mobilenet_v3_large_seg", build_mobilenet_v3_large_seg),
    ("mobilenet_v3_small_seg", build_mobilenet_v3_small_seg),
):  # no ImageNet weights: their released weights are DeepLab's (deeplab-import); width 1.0 as released
    register_backbone(BackboneSpec(name=_name, build=_builder, preprocessing=MINUS_ONE_TO_ONE, widths=(1.0,)))
