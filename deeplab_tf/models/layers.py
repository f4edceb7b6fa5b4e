"""Small graph helpers shared by the backbones and heads.

Only stock Keras layers that tensorflow-model-optimization can quantize are
used: Conv2D / DepthwiseConv2D + BatchNormalization + ReLU (folded at export),
UpSampling2D(bilinear) + Cropping2D for resizes, AveragePooling2D for pooling.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

BN_EPSILON = 1e-3


def conv_bn_act(
    x,
    filters: int,
    kernel_size: int,
    name: str,
    *,
    strides: int = 1,
    dilation_rate: int = 1,
    activation: str | None = "relu",
    bn_momentum: float = 0.99,
    separable: bool = False,
):
    """Conv (or depthwise-separable conv) -> BN -> optional ReLU, all named.

    A separable conv is depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN +
    ReLU (as in DeepLab v3+), so tfmot folds each BN into its conv.
    """
    if separable and kernel_size > 1:
        x = keras.layers.DepthwiseConv2D(
            kernel_size,
            strides=strides,
            dilation_rate=dilation_rate,
            padding="same",
            use_bias=False,
            name=f"{name}_depthwise",
        )(x)
        x = keras.layers.BatchNormalization(
            epsilon=BN_EPSILON, momentum=bn_momentum, name=f"{name}_depthwise_bn"
        )(x)
        x = keras.layers.ReLU(name=f"{name}_depthwise_relu")(x)
        return conv_bn_act(
            x, filters, 1, f"{name}_pointwise", activation=activation, bn_momentum=bn_momentum
        )
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=dilation_rate,
        padding="same",
        use_bias=False,
        name=name,
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=bn_momentum, name=f"{name}_bn")(x)
    if activation == "relu":
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    elif activation is not None:
        raise ValueError(f"conv_bn_act supports activation 'relu' or None, got {activation!r}")
    return x


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ResizeBilinear(keras.layers.Layer):
    """Bilinear resize to a fixed ``size`` with aligned corners: TF1's
    ``resize_bilinear(align_corners=True)``, as the original DeepLab resized
    (and TFLite's RESIZE_BILINEAR with align_corners). The corner pixels of
    input and output coincide: output pixel i samples input row
    ``i * (h - 1) / (H - 1)``. Quantization: ``ResizeQuantizeConfig``."""

    def __init__(self, size: tuple[int, int], **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(s) for s in size)

    def call(self, inputs):
        return tf.raw_ops.ResizeBilinear(images=inputs, size=self.size, align_corners=True, half_pixel_centers=False)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], *self.size, input_shape[-1]])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def upsample_to(x, size: tuple[int, int], factor: int, name: str, align_corners: bool = False):
    """Bilinear upsampling by an integer ``factor``, cropped to ``size``.

    The last layer added is named ``name``.

    Features of stride s have ceil(H / s) rows, so ``factor`` times them covers
    H; the extra rows are cropped, more at the top when odd. For H = k*s + 1
    (257, 513) this matches align_corners resizing to within 1/(2s) pixel; for
    H = k*s it is the usual half-pixel resize. UpSampling2D and Cropping2D are
    both layers tfmot quantizes, unlike Resizing or Lambda. ``align_corners``:
    one ``ResizeBilinear`` layer to ``size`` instead (the original DeepLab's).

    Raises:
      ValueError: ``factor`` too small to cover ``size``.
    """
    height, width = x.shape[1], x.shape[2]
    extra_h, extra_w = height * factor - size[0], width * factor - size[1]
    if extra_h < 0 or extra_w < 0 or extra_h >= factor or extra_w >= factor:
        raise ValueError(
            f"{name}: upsampling {height}x{width} by {factor} cannot give {size[0]}x{size[1]}"
        )
    if align_corners:
        return ResizeBilinear(size, name=name)(x) if (height, width) != tuple(size) else x
    crop = ((-(-extra_h // 2), extra_h // 2), (-(-extra_w // 2), extra_w // 2))
    if factor > 1:
        upsample_name = f"{name}_upsample" if extra_h or extra_w else name
        x = keras.layers.UpSampling2D(size=factor, interpolation="bilinear", name=upsample_name)(x)
    if extra_h or extra_w:
        x = keras.layers.Cropping2D(crop, name=name)(x)
    return x
