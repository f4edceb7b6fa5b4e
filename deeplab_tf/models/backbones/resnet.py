"""ResNet-50/101 v1 (https://arxiv.org/abs/1512.03385) with atrous output strides.

Layer names and stride placement (on the first 1x1 conv and the shortcut of a
stage's first block) follow ``keras.applications.ResNet50``/``ResNet101`` so
that their ImageNet weights load by name. ``config.multi_grid`` scales the
rates of conv5's three 3x3 convs (DeepLab v3, https://arxiv.org/abs/1706.05587,
Sec. 3.2). Our convs have no bias and our BN another epsilon: the keras conv
biases and epsilon are folded into the BN weights on loading (``keras_transform``).
"""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from deeplab_tf.models.backbones import pretrained
from deeplab_tf.models.backbones.base import (
    AtrousTracker,
    BackboneSpec,
    Preprocessing,
    register_backbone,
)
from deeplab_tf.models.layers import BN_EPSILON

# Blocks per stage conv2..conv5.
_DEPTHS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
_APPLICATIONS = {"resnet50": "ResNet50", "resnet101": "ResNet101"}
_KERAS_BN_EPSILON = 1.001e-5
# keras' caffe-style ImageNet means, in RGB order (keras feeds BGR).
CAFFE_RGB = Preprocessing(mean=(123.68, 116.779, 103.939), std=(1.0, 1.0, 1.0))


def _conv_bn(x, filters, kernel_size, name, bn_momentum, strides=1, rate=1):
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=rate,
        padding="same",
        use_bias=False,
        name=name + "_conv",
    )(x)
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name=name + "_bn")(x)


def _bottleneck(x, filters, stride, rate, conv_shortcut, name, bn_momentum):
    """keras' ``block1``: 1x1 (strided) -> 3x3 (dilated) -> 1x1, plus shortcut."""
    shortcut = _conv_bn(x, 4 * filters, 1, name + "_0", bn_momentum, strides=stride) if conv_shortcut else x
    x = _conv_bn(x, filters, 1, name + "_1", bn_momentum, strides=stride)
    x = keras.layers.ReLU(name=name + "_1_relu")(x)
    x = _conv_bn(x, filters, 3, name + "_2", bn_momentum, rate=rate)
    x = keras.layers.ReLU(name=name + "_2_relu")(x)
    x = _conv_bn(x, 4 * filters, 1, name + "_3", bn_momentum)
    x = keras.layers.Add(name=name + "_add")([shortcut, x])
    return keras.layers.ReLU(name=name + "_out")(x)


def check_multi_grid(multi_grid, units: int) -> tuple[int, ...]:
    """Returns the multi-grid multipliers (all 1 for None).

    Raises:
      ValueError: not ``units`` positive integers.
    """
    if multi_grid is None:
        return (1,) * units
    grid = tuple(multi_grid)
    if len(grid) != units or any(not isinstance(g, int) or isinstance(g, bool) or g < 1 for g in grid):
        raise ValueError(
            f"multi_grid must be {units} positive integers (one per unit of the last block), got {multi_grid!r}"
        )
    return grid


def build_resnet(inputs, config, bn_momentum: float = 0.99) -> dict:
    """ResNet v1 feature levels C2 (stride 4, 256 ch) to C5 (2048 ch)."""
    depths = _DEPTHS[config.name]
    grid = check_multi_grid(config.multi_grid, depths[-1])
    atrous = AtrousTracker(config.output_stride)
    # keras pads 3/3 and 1/1 explicitly; "same" would pad 2/3 and 0/1 on even
    # sizes. Both give ceil(H / 2) rows, so the strides stay exact.
    atrous(2)
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name="conv1_bn")(x)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    atrous(2)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    levels = {}
    for stage, (blocks, filters) in enumerate(zip(depths, (64, 128, 256, 512), strict=True)):
        last = stage == len(depths) - 1
        for block in range(blocks):
            stride, _ = atrous(2 if stage and not block else 1)
            _, rate = atrous(1)  # the 3x3 conv comes after the (former) stride
            if last:
                rate *= grid[block]
            name = f"conv{stage + 2}_block{block + 1}"
            x = _bottleneck(x, filters, stride, rate, block == 0, name, bn_momentum)
        levels[f"C{stage + 2}"] = x
    return levels


def keras_transform(source: keras.Model):
    """``transform`` for ``pretrained.transfer_weights`` from a keras ResNet v1.

    Drops the conv biases into the following BN's moving mean, rescales gamma
    from keras' BN epsilon to ``BN_EPSILON`` (exact in inference), and reverses
    the input channels of ``conv1_conv`` (keras takes BGR, we take RGB).
    """

    def transform(name: str, values: list[np.ndarray]) -> list[np.ndarray]:
        if name.endswith("_conv"):
            kernel = values[0]
            return [kernel[:, :, ::-1, :] if name == "conv1_conv" else kernel]
        if name.endswith("_bn"):
            gamma, beta, mean, variance = values
            conv = source.get_layer(name[: -len("_bn")] + "_conv")
            bias = conv.get_weights()[1] if conv.use_bias else 0.0
            scale = np.sqrt((variance + BN_EPSILON) / (variance + _KERAS_BN_EPSILON))
            return [gamma * scale, beta, mean - bias, variance]
        return values

    return transform


def _load(backbone, config, weights):
    application = getattr(keras.applications, _APPLICATIONS[config.name])
    sources = []

    def factory(w):
        sources.append(application(include_top=False, weights=w, input_shape=(224, 224, 3)))
        return sources[-1]

    def transform(name, values):
        return keras_transform(sources[-1])(name, values)

    pretrained.load_from_keras_application(backbone, factory, weights, config.name, transform=transform)


for _name in _DEPTHS:
    register_backbone(
        BackboneSpec(
            name=_name,
            build=build_resnet,
            preprocessing=CAFFE_RGB,
            load_pretrained=_load,
            widths=(1.0,),
        )
    )
