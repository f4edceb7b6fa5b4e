"""ResNet v1 as the original DeepLab builds it: research/deeplab's ``core/resnet_v1_beta.py``
(``resnet_v1_50``, ``resnet_v1_101`` and their ``_beta`` variants), layer for layer, so that
weights of the original import (``deeplab_tf.importing``) and compute what they computed there.

Unlike ``resnet50`` / ``resnet101`` (keras.applications' layout, for its ImageNet weights):

- root: ``conv1`` 7x7/2 with the original's fixed padding (3 before, 3 after, then VALID),
  BN + ReLU; the beta variants (the model zoo's ImageNet checkpoints ``resnet_v1_50_2018_05_04``
  and ``resnet_v1_101_2018_05_04``) replace it by three 3x3 convs ``conv1_1`` (64, stride 2,
  fixed padding 1 and 1 + VALID), ``conv1_2`` (64) and ``conv1_3`` (128, both SAME), each BN +
  ReLU. Then ``pool1`` max-pool 3x3/2 with TF 'SAME' padding;
- bottleneck units ``conv1`` 1x1 -> ``conv2`` 3x3 -> ``conv3`` 1x1 (BN after each, ReLU after
  the first two), output ReLU(shortcut + conv3). A block's stride is on its LAST unit
  (blocks 1-3), in the 3x3 ``conv2`` (fixed padding (1, 1) + VALID when strided);
- block3 has 6 units (ResNet-50) or 23 (ResNet-101);
- the shortcut is a 1x1 conv + BN only where the depth changes (each block's first unit);
  elsewhere the input itself, subsampled (1x1 max-pool) in the strided unit;
- output stride as the original's ``stack_blocks_dense``; ``config.multi_grid`` multiplies the
  rates of block4's three units (the original's ``unit_rate``);
- batch-norm epsilon 1e-5 (DeepLab's ``resnet_arg_scope(batch_norm_epsilon=1e-5)``), no biases;
- preprocessing as feature_extractor's ``_PREPROCESS_FN``: mean subtraction (RGB 123.15, 115.90,
  103.06; no scaling) for the 7x7 root, [-1, 1] for the beta variants.

Levels are the original decoder's end points, conv3 + BN of the unit before each stride (before
the residual add and ReLU): C2 ``block1/unit_2``, C3 ``block2/unit_3``, C4 ``block3/unit_5``
(ResNet-101: ``unit_22``); C5 the backbone output (2048 ch). Layer
``block{b}_unit_{u}_{conv1|conv2|conv3|shortcut}`` is the original's
``<scope>/block{b}/unit_{u}/bottleneck_v1/{...}``, ``conv1`` / ``conv1_{1,2,3}`` its
``<scope>/conv1`` / ``<scope>/conv1_{1,2,3}``, where the scope is ``resnet_v1_50`` or
``resnet_v1_101`` (beta or not: feature_extractor's ``name_scope``). No Keras ImageNet weights:
``weights`` is an .h5 file saved from this backbone; the original's weights come in by
deeplab-import (a segmentation model) or deeplab-train --init_from (also an ImageNet backbone).
"""

from __future__ import annotations

import dataclasses
import functools

import tf_keras as keras

from deeplab_tf.models.backbones.base import (
    LEVELS,
    MINUS_ONE_TO_ONE,
    AtrousTracker,
    BackboneSpec,
    Preprocessing,
    register_backbone,
)
from deeplab_tf.models.backbones.resnet import check_multi_grid
from deeplab_tf.models.backbones.xception import fixed_padding, load_weights_file

# research/deeplab feature_extractor: resnet_arg_scope(batch_norm_epsilon=1e-5).
RESNET_BN_EPSILON = 1e-5
# research/deeplab feature_extractor._MEAN_RGB, subtracted by _preprocess_subtract_imagenet_mean.
DEEPLAB_MEAN_RGB = Preprocessing(mean=(123.15, 115.90, 103.06), std=(1.0, 1.0, 1.0))
# The roots, (name, filters, kernel, nominal stride) per conv: resnet_v1_beta's default conv2d_same
# 7x7/2, and the beta variants' root_block_fn_for_beta_variant.
ROOT = (("conv1", 64, 7, 2),)
BETA_ROOT = (("conv1_1", 64, 3, 2), ("conv1_2", 64, 3, 1), ("conv1_3", 128, 3, 1))


@dataclasses.dataclass(frozen=True)
class ResNetV1:
    """One of research/deeplab's resnet_v1 networks.

    Attributes:
      scope: the original's variable scope (feature_extractor's ``name_scope``).
      blocks: (units, bottleneck depth) of block1..block4.
      beta: the beta variant's root (three 3x3 convs) instead of one 7x7 conv.
    """

    scope: str
    blocks: tuple[tuple[int, int], ...]
    beta: bool = False

    @property
    def root(self) -> tuple[tuple[str, int, int, int], ...]:
        return BETA_ROOT if self.beta else ROOT

    @property
    def preprocessing(self) -> Preprocessing:
        """feature_extractor's ``_PREPROCESS_FN``: [-1, 1] for the beta variants, else the mean subtracted."""
        return MINUS_ONE_TO_ONE if self.beta else DEEPLAB_MEAN_RGB


def _blocks(block3_units: int) -> tuple[tuple[int, int], ...]:
    return ((3, 64), (4, 128), (block3_units, 256), (3, 512))


# Registered backbone name -> the original network (resnet_v1_beta.py's resnet_v1_50, _50_beta, ...).
VARIANTS = {
    "resnet50_deeplab": ResNetV1("resnet_v1_50", _blocks(6)),
    "resnet101_deeplab": ResNetV1("resnet_v1_101", _blocks(23)),
    "resnet50_beta_deeplab": ResNetV1("resnet_v1_50", _blocks(6), beta=True),
    "resnet101_beta_deeplab": ResNetV1("resnet_v1_101", _blocks(23), beta=True),
}


def _conv_bn(x, filters, kernel_size, name, bn_momentum, strides=1, rate=1, padding="same"):
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=rate,
        padding=padding,
        use_bias=False,
        name=name,
    )(x)
    return keras.layers.BatchNormalization(epsilon=RESNET_BN_EPSILON, momentum=bn_momentum, name=f"{name}_bn")(x)


def _bottleneck(x, depth_bottleneck, stride, rate, name, bn_momentum):
    """The original's ``bottleneck``: returns (the unit's output, its conv3 + BN)."""
    depth = 4 * depth_bottleneck
    if x.shape[-1] == depth:  # resnet_utils.subsample
        shortcut = (
            x if stride == 1 else keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_shortcut_subsample")(x)
        )
    else:
        shortcut = _conv_bn(x, depth, 1, f"{name}_shortcut", bn_momentum, strides=stride)
    residual = _conv_bn(x, depth_bottleneck, 1, f"{name}_conv1", bn_momentum)
    residual = keras.layers.ReLU(name=f"{name}_conv1_relu")(residual)
    residual, padding = fixed_padding(residual, 3, stride, rate, f"{name}_conv2_pad")
    residual = _conv_bn(residual, depth_bottleneck, 3, f"{name}_conv2", bn_momentum, stride, rate, padding)
    residual = keras.layers.ReLU(name=f"{name}_conv2_relu")(residual)
    conv3 = _conv_bn(residual, depth, 1, f"{name}_conv3", bn_momentum)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, conv3])
    return keras.layers.ReLU(name=f"{name}_relu")(x), conv3


def build_resnet_v1(inputs, config, bn_momentum: float = 0.99, *, variant: ResNetV1) -> dict:
    """``variant``'s feature levels C2 (stride 4, 256 ch), C3 (8, 512), C4 (16, 1024), C5 (2048)."""
    grid = check_multi_grid(config.multi_grid, variant.blocks[-1][0])
    atrous = AtrousTracker(config.output_stride)
    x = inputs
    for name, filters, kernel, nominal_stride in variant.root:
        stride, _ = atrous(nominal_stride)
        x, padding = fixed_padding(x, kernel, stride, 1, f"{name}_pad")
        x = _conv_bn(x, filters, kernel, name, bn_momentum, strides=stride, padding=padding)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    stride, _ = atrous(2)
    x = keras.layers.MaxPooling2D(3, strides=stride, padding="same", name="pool1")(x)

    levels = {}
    for block, (units, depth_bottleneck) in enumerate(variant.blocks, start=1):
        last_block = block == len(variant.blocks)
        for unit in range(1, units + 1):
            unit_stride, rate = atrous(2 if unit == units and not last_block else 1)
            if last_block:
                rate *= grid[unit - 1]
            x, conv3 = _bottleneck(x, depth_bottleneck, unit_stride, rate, f"block{block}_unit_{unit}", bn_momentum)
            if not last_block and unit == units - 1:  # feature_extractor's decoder end points
                levels[LEVELS[block - 1]] = conv3
    levels["C5"] = x
    return levels


for _name, _variant in VARIANTS.items():
    register_backbone(
        BackboneSpec(
            name=_name,
            build=functools.partial(build_resnet_v1, variant=_variant),
            preprocessing=_variant.preprocessing,
            load_pretrained=load_weights_file,
            widths=(1.0,),
        )
    )
