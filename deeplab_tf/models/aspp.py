"""Atrous Spatial Pyramid Pooling (DeepLab v3, https://arxiv.org/abs/1706.05587, Sec. 3.3)."""

from __future__ import annotations

import tf_keras as keras

from deeplab_tf.configs.base import ASPPConfig
from deeplab_tf.models.layers import conv_bn_act

DEFAULT_RATES_AT_OS16 = (6, 12, 18)


def atrous_rates(config: ASPPConfig, output_stride: int) -> tuple[int, ...]:
    """The 3x3 branch rates: explicit, or (6, 12, 18) scaled by 16 / output_stride."""
    if config.atrous_rates is not None:
        return tuple(config.atrous_rates)
    return tuple(max(1, r * 16 // output_stride) for r in DEFAULT_RATES_AT_OS16)


def aspp(features, config: ASPPConfig, output_stride: int, bn_momentum: float = 0.99):
    """ASPP head on the deepest features.

    Branches (each conv + BN + ReLU, ``config.filters`` channels): a 1x1 conv,
    one 3x3 atrous conv per rate (optionally depthwise-separable), and the
    image-level pooling branch (average pool over the whole map, 1x1 conv,
    bilinear broadcast back). Branches are concatenated (the pooling branch
    first or last, ``config.image_pooling_first``), projected by a 1x1 conv
    and passed through dropout.

    Args:
      features: the backbone's deepest features, static spatial shape.
      config: filters, rates (``()`` gives the "mobile" ASPP of the original
        DeepLab MobileNet configs: 1x1 branch + image pooling), separable, dropout.
      output_stride: stride of ``features``; sets default rates.
      bn_momentum: batch-norm momentum.

    Returns:
      The projected ASPP output, same spatial size as ``features``.
    """
    height, width = features.shape[1], features.shape[2]
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
    if config.image_pooling:
        pooled = keras.layers.AveragePooling2D(pool_size=(height, width), name="aspp_pool")(features)
        pooled = conv_bn_act(pooled, config.filters, 1, "aspp_pool_conv", bn_momentum=bn_momentum)
        if height > 1 or width > 1:
            # Bilinear from 1x1 is a broadcast; it maps to RESIZE_BILINEAR, which
            # every TFLite delegate runs.
            pooled = keras.layers.UpSampling2D(
                size=(height, width), interpolation="bilinear", name="aspp_pool_upsample"
            )(pooled)
        branches.insert(0 if config.image_pooling_first else len(branches), pooled)
    x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(name="aspp_concat")(branches)
    x = conv_bn_act(x, config.filters, 1, "aspp_project", bn_momentum=bn_momentum)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name="aspp_dropout")(x)
    return x

