"""Atrous Spatial Pyramid Pooling (DeepLab v3, https://arxiv.org/abs/1706.05587, Sec. 3.3)."""

from __future__ import annotations

import tf_keras as keras

from deeplab_tf.configs.base import ASPPConfig
from deeplab_tf.models.activations import HardSigmoid
from deeplab_tf.models.layers import ResizeBilinear, conv_bn_act

DEFAULT_RATES_AT_OS16 = (6, 12, 18)


def atrous_rates(config: ASPPConfig, output_stride: int) -> tuple[int, ...]:
    """The 3x3 branch rates: explicit, or (6, 12, 18) scaled by 16 / output_stride."""
    if config.atrous_rates is not None:
        return tuple(config.atrous_rates)
    return tuple(max(1, r * 16 // output_stride) for r in DEFAULT_RATES_AT_OS16)


def _pooling_grid(
    config: ASPPConfig, output_stride: int, feature_size: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The image-pooling window and the grid of pooled cells on features of ``feature_size``.

    The window covers the features of ``config.image_pooling_crop_size`` (the original's
    ``scale_dimension(crop, 1 / output_stride)``) or, on a smaller map, the whole map (the
    original trained on crops of that size, where the pool is global; it cannot run on smaller
    ones); windows step by ``config.image_pooling_stride`` without padding.
    """
    window = tuple(feature_size)
    if config.image_pooling_crop_size is not None:
        crop = config.image_pooling_crop_size
        window = tuple(min((s - 1) // output_stride + 1, f) for s, f in zip(crop, feature_size, strict=True))
    grid = tuple((f - w) // s + 1 for f, w, s in zip(feature_size, window, config.image_pooling_stride, strict=True))
    return window, grid


def aspp(features, config: ASPPConfig, output_stride: int, bn_momentum: float = 0.99, align_corners: bool = False):
    """ASPP head on the deepest features.

    Branches (each conv + BN + ReLU, ``config.filters`` channels): a 1x1 conv,
    one 3x3 atrous conv per rate (optionally depthwise-separable), and the
    image-level pooling branch (average pool over the whole map or windows of
    it, 1x1 conv, bilinear resize back). Branches are concatenated (the pooling
    branch first or last, ``config.image_pooling_first``), projected by a 1x1
    conv (``config.projection``) and passed through dropout. With
    ``config.squeeze_excite`` the pooling branch is a gate instead (1x1 conv with
    bias, hard sigmoid) that multiplies that output, as in the original DeepLab's
    MobileNetV3 models (LR-ASPP, https://arxiv.org/abs/1905.02244, Sec. 6.4).

    Args:
      features: the backbone's deepest features, static spatial shape.
      config: filters, rates (``()`` gives the "mobile" ASPP of the original
        DeepLab MobileNet configs: 1x1 branch + image pooling), separable, dropout.
      output_stride: stride of ``features``; sets default rates.
      bn_momentum: batch-norm momentum.
      align_corners: resize a pooled grid of more than one cell as TF1's
        align-corners resize (required for such a grid).

    Returns:
      The ASPP output, same spatial size as ``features``.

    Raises:
      ValueError: a pooled grid of several cells without ``align_corners``.
    """
    branches = [conv_bn_act(features, config.filters, 1, "aspp_conv1x1", bn_momentum=bn_momentum)]
    for rate in atrous_rates(config, output_stride):
        branches.append(
            conv_bn_act(
                features,
                config.filters,
                3,
                f"aspp_atrous{rate}",
                dilation_rate=rate,
                separable=config.separable,
                bn_momentum=bn_momentum,
            )
        )
    gate = None
    if config.image_pooling:
        pooled = _image_pooling(features, config, output_stride, bn_momentum, align_corners)
        if config.squeeze_excite:
            gate = pooled
        else:
            branches.insert(0 if config.image_pooling_first else len(branches), pooled)
    x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(name="aspp_concat")(branches)
    if config.projection:
        x = conv_bn_act(x, config.filters, 1, "aspp_project", bn_momentum=bn_momentum)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name="aspp_dropout")(x)
    if gate is not None:
        x = keras.layers.Multiply(name="aspp_gate")([x, gate])
    return x


def _image_pooling(features, config: ASPPConfig, output_stride: int, bn_momentum: float, align_corners: bool):
    """Average pool, 1x1 conv (+ BN + ReLU, or bias + hard sigmoid as a gate), resize to ``features``."""
    size = (features.shape[1], features.shape[2])
    window, grid = _pooling_grid(config, output_stride, size)
    strides = None if window == size else tuple(config.image_pooling_stride)  # one cell: any stride pools the same
    pooled = keras.layers.AveragePooling2D(pool_size=window, strides=strides, name="aspp_pool")(features)
    if config.squeeze_excite:
        pooled = keras.layers.Conv2D(config.filters, 1, name="aspp_pool_conv")(pooled)
        pooled = HardSigmoid(name="aspp_pool_gate")(pooled)
    else:
        pooled = conv_bn_act(pooled, config.filters, 1, "aspp_pool_conv", bn_momentum=bn_momentum)
    if grid != (1, 1):
        if not align_corners:
            raise ValueError(
                f"image pooling into a {grid[0]}x{grid[1]} grid is resized back with aligned corners, as the "
                "original DeepLab does: set model.align_corners=true"
            )
        return ResizeBilinear(size, name="aspp_pool_upsample")(pooled)
    if size != (1, 1):
        # Bilinear from 1x1 is a broadcast; it maps to RESIZE_BILINEAR, which
        # every TFLite delegate runs.
        pooled = keras.layers.UpSampling2D(size=size, interpolation="bilinear", name="aspp_pool_upsample")(pooled)
    return pooled
