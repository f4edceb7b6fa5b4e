"""One DeepLab builder: v3 (https://arxiv.org/abs/1706.05587) and v3+
(https://arxiv.org/abs/1802.02611, with the decoder) over any registered backbone."""

from __future__ import annotations

import tf_keras as keras

from deeplab_tf.configs.base import ModelConfig
from deeplab_tf.models.aspp import aspp
from deeplab_tf.models.backbones import LEVELS, build_backbone, feature_strides
from deeplab_tf.models.backbones.base import validate_backbone_config
from deeplab_tf.models.decoder import decoder
from deeplab_tf.models.layers import upsample_to


def validate_model_config(config: ModelConfig) -> None:
    """Checks a model config before anything is built.

    Raises:
      ValueError: naming the bad field.
    """
    validate_backbone_config(config.backbone, tuple(config.input_size))
    if not isinstance(config.num_classes, int) or config.num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {config.num_classes!r}")
    level = config.decoder.low_level_feature
    if level is not None and level not in LEVELS:
        raise ValueError(f"decoder.low_level_feature must be one of {LEVELS} or None, got {level!r}")
    if config.aspp.filters < 1 or not 0.0 <= config.aspp.dropout < 1.0:
        raise ValueError(f"aspp needs filters >= 1 and 0 <= dropout < 1, got {config.aspp}")
    if any(r < 1 for r in config.aspp.atrous_rates or ()):
        raise ValueError(f"aspp.atrous_rates must be positive, got {config.aspp.atrous_rates}")
    if config.aspp.squeeze_excite and not config.aspp.image_pooling:
        raise ValueError("aspp.squeeze_excite gates the ASPP by its image-pooling branch: it needs aspp.image_pooling")
    if any(s < 1 for s in config.aspp.image_pooling_stride):
        raise ValueError(f"aspp.image_pooling_stride must be positive, got {config.aspp.image_pooling_stride}")
    if config.decoder.output_is_logits and not (config.decoder.sum_merge and level is not None):
        raise ValueError(
            "decoder.output_is_logits needs decoder.sum_merge and a decoder.low_level_feature (the original's "
            "decoder_output_is_logits with decoder_use_sum_merge)"
        )


def model_name(config: ModelConfig) -> str:
    version = "deeplabv3plus" if config.decoder.low_level_feature else "deeplabv3"
    return f"{version}_{config.backbone.name}"


def build_deeplab(config: ModelConfig) -> keras.Model:
    """Builds DeepLab v3 or v3+ as one flat Keras functional model.

    The graph is static-shaped and uses only layers tensorflow-model-
    optimization quantizes: input ``image`` float32 [B, H, W, 3] normalized as
    the backbone's ``preprocessing`` says; output ``logits`` float32
    [B, H, W, num_classes] at the input resolution.

    Args:
      config: model config; ``decoder.low_level_feature`` None gives v3, a
        level name (``"C2"``) gives v3+.

    Returns:
      An uncompiled ``keras.Model``.

    Raises:
      ValueError: unknown backbone, output stride outside {8, 16, 32}, input
        size the backbone cannot take, fewer than 2 classes, bad decoder level.
      RuntimeError: pretrained weights requested but unavailable.
    """
    return build_deeplab_with_backbone(config)[0]


def build_deeplab_with_backbone(config: ModelConfig) -> tuple[keras.Model, keras.Model]:
    """``build_deeplab``, and the backbone inside it: a model over the same layers
    from ``image`` to the named feature levels (for profiling without a second build).

    Raises:
      As ``build_deeplab``.
    """
    validate_model_config(config)
    input_size = tuple(config.input_size)
    inputs = keras.Input(shape=(*input_size, 3), name="image")
    backbone = build_backbone(config.backbone, input_size, inputs, bn_momentum=config.bn_momentum)
    features = backbone.output
    strides = feature_strides(backbone)
    deepest = LEVELS[-1]

    x = aspp(features[deepest], config.aspp, strides[deepest], config.bn_momentum, config.align_corners)
    stride = strides[deepest]
    level = config.decoder.low_level_feature
    logits_given = False
    if level is not None and strides[level] < stride:
        factor = stride // strides[level]
        x = decoder(
            x, features[level], config.decoder, factor, config.bn_momentum, config.align_corners, config.num_classes
        )
        stride, logits_given = strides[level], config.decoder.output_is_logits
    if not logits_given:
        x = keras.layers.Conv2D(config.num_classes, 1, name="logits_conv")(x)
    logits = upsample_to(x, input_size, stride, "logits", config.align_corners)
    return keras.Model(inputs, logits, name=model_name(config)), backbone
