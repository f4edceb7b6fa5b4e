"""DeepLab v3+ decoder (https://arxiv.org/abs/1802.02611, Sec. 3.1)."""

from __future__ import annotations

import tf_keras as keras

from deeplab_tf.configs.base import DecoderConfig
from deeplab_tf.models.layers import conv_bn_act, upsample_to


def decoder(
    encoder_output,
    low_level,
    config: DecoderConfig,
    factor: int,
    bn_momentum: float = 0.99,
    align_corners: bool = False,
    num_classes: int | None = None,
):
    """Fuses the encoder output with low-level features and refines.

    The low-level features are projected to ``config.low_level_filters``
    channels (1x1 conv + BN + ReLU), the encoder output is bilinearly
    upsampled by ``factor`` to their size, both are concatenated and refined
    by two 3x3 convs (optionally depthwise-separable). With ``config.sum_merge``
    (the original DeepLab's MobileNetV3 decoder) one conv refines the upsampled
    encoder output and the projection is added to it; with
    ``config.output_is_logits`` both are 1x1 convs with a bias to ``num_classes``
    channels and the sum is the logits.

    Args:
      encoder_output: ASPP output.
      low_level: backbone features at a finer stride (usually stride 4).
      config: decoder channels, separability, merge.
      factor: encoder stride / low-level stride (an integer).
      bn_momentum: batch-norm momentum.
      align_corners: upsample as TF1's align-corners resize (``upsample_to``).
      num_classes: the logits' channels (for ``config.output_is_logits``).

    Returns:
      Refined features (or logits) at the low-level resolution.
    """
    size = (low_level.shape[1], low_level.shape[2])
    if config.sum_merge:
        if config.output_is_logits:
            low = keras.layers.Conv2D(num_classes, 1, name="decoder_low_level")(low_level)
        else:
            low = conv_bn_act(low_level, config.filters, 1, "decoder_low_level", bn_momentum=bn_momentum)
    else:
        low = conv_bn_act(low_level, config.low_level_filters, 1, "decoder_low_level", bn_momentum=bn_momentum)
    x = upsample_to(encoder_output, size, factor, "decoder_upsample", align_corners)
    if config.sum_merge:
        if config.output_is_logits:
            x = keras.layers.Conv2D(num_classes, 1, name="decoder_conv1")(x)
        else:
            x = conv_bn_act(
                x, config.filters, 3, "decoder_conv1", separable=config.separable, bn_momentum=bn_momentum
            )
        return keras.layers.Add(name="decoder_sum")([x, low])
    x = keras.layers.Concatenate(name="decoder_concat")([x, low])
    for i in (1, 2):
        x = conv_bn_act(
            x, config.filters, 3, f"decoder_conv{i}", separable=config.separable, bn_momentum=bn_momentum
        )
    return x
