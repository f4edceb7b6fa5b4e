"""The Keras side of the export: a DeepLab model wrapped as the batch-1 function that
the converter freezes.

``serving_function`` takes the image (uint8 pixels, normalized in the graph, or
already normalized floats) to per-class probabilities (``probabilities_fn``: the
softmax before the final upsampling) or class ids (``mask_fn``: the argmax at half
size by default). What each choice costs and keeps, measured: WORKSPACE.md, "The
.tflite export".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.modes import InputDtype, MaskArgmax, Output
from deeplab_tf.models.backbones.base import Preprocessing
from deeplab_tf.models.layers import ResizeBilinear

# The largest upsampling factor that follows the softmax. A class boundary moves by
# a fraction of it; a larger final upsampling is split, the rest before the softmax.
MAX_SOFTMAX_UPSAMPLING = 8

_RESIZE_LAYERS = (keras.layers.UpSampling2D, keras.layers.Cropping2D, ResizeBilinear)


def _normalize(pixels: tf.Tensor, preprocessing: Preprocessing) -> tf.Tensor:
    """``(x - mean) / std`` as one 1x1 depthwise convolution with bias.

    One op instead of SUB + MUL (or DIV): in int8 it takes the uint8 pixels
    (scale 1, zero point 0) straight to the normalized range.
    """
    scale = 1.0 / np.asarray(preprocessing.std, np.float32)
    offset = -np.asarray(preprocessing.mean, np.float32) * scale
    x = tf.nn.depthwise_conv2d(pixels, scale.reshape(1, 1, 3, 1), strides=[1, 1, 1, 1], padding="VALID")
    return tf.nn.bias_add(x, offset)


def split_final_resize(model: keras.Model) -> tuple[keras.Model, list[keras.layers.Layer]]:
    """Splits ``model`` before the resize layers that bring its logits to the input size.

    Returns:
      The model up to its logits at feature resolution (sharing ``model``'s
      layers), and the trailing UpSampling2D / Cropping2D layers (also inside
      tfmot's QuantizeWrapper) in call order; ``(model, [])`` if it has none.
    """
    tensor, tail = model.outputs[0], []
    while True:
        layer = tensor._keras_history.layer
        if not isinstance(_inner(layer), _RESIZE_LAYERS):
            break
        tail.append(layer)
        tensor = layer.input
    if not tail:
        return model, []
    # Same name as the model: the converted tensors keep their names (and length).
    return keras.Model(model.inputs, tensor, name=model.name), tail[::-1]


def _inner(layer: keras.layers.Layer) -> keras.layers.Layer:
    return getattr(layer, "layer", layer)  # tfmot's QuantizeWrapper keeps the layer in .layer


def _upsampling_like(layer: keras.layers.UpSampling2D, size: tuple, suffix: str) -> keras.layers.UpSampling2D:
    """A new UpSampling2D that resizes as ``layer`` does, by ``size`` instead."""
    return keras.layers.UpSampling2D(
        size, interpolation=layer.interpolation, data_format=layer.data_format, name=f"{layer.name}_{suffix}"
    )


def _factor(layer: keras.layers.Layer) -> float:
    """How many times a resize layer enlarges its input (the larger side's ratio)."""
    (_, h, w, _), (_, oh, ow, _) = layer.input_shape, layer.output_shape
    return max(oh / h, ow / w)


def probabilities_fn(model: keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    """``x -> probabilities`` at the input size. Split outside any trace.

    The softmax runs before the model's final bilinear upsampling (+ crop), or
    before its last ``MAX_SOFTMAX_UPSAMPLING`` times when the upsampling is
    larger (the logits are first upsampled by the rest). A bilinear resize of
    probabilities is a convex combination of distributions, so still one per
    pixel, and the softmax runs on 16x (v3+) or 64x (v3) fewer values.
    The softmax of the resized logits if the upsampling factor does not split
    into integers. An align-corners model (one ``ResizeBilinear``) gets the
    softmax before that resize when it enlarges at most that much.
    """
    body, tail = split_final_resize(model)
    upsampling = [layer for layer in tail if isinstance(_inner(layer), keras.layers.UpSampling2D)]
    before = []
    if len(upsampling) == 1:
        inner = _inner(upsampling[0])
        after = tuple(min(f, MAX_SOFTMAX_UPSAMPLING) for f in inner.size)
        if any(f % a for f, a in zip(inner.size, after, strict=True)):
            body, tail = model, []
        elif after != tuple(inner.size):
            first = tuple(f // a for f, a in zip(inner.size, after, strict=True))
            before = [_upsampling_like(inner, first, "before_softmax")]
            last = _upsampling_like(inner, after, "after_softmax")
            tail = [last if layer is upsampling[0] else layer for layer in tail]
    elif len(tail) != 1 or not isinstance(_inner(tail[0]), ResizeBilinear) or _factor(tail[0]) > MAX_SOFTMAX_UPSAMPLING:
        body, tail = model, []  # else: the softmax before one align-corners resize

    def probabilities(x: tf.Tensor) -> tf.Tensor:
        x = body(x, training=False)
        for layer in before:
            x = layer(x)
        x = tf.nn.softmax(x, axis=-1)
        for layer in tail:
            x = layer(x, training=False)
        return x

    return probabilities


def mask_fn(model: keras.Model, argmax: str = "half") -> Callable[[tf.Tensor], tf.Tensor]:
    """``x -> class ids`` [B, H, W] uint8 at the input size. Split outside any trace.

    "full": the argmax of the logits resized to the input size. "half": the
    logits are resized to half the input size (the model's final bilinear
    upsampling at half its factor), the argmax runs there and each class id is
    copied to 2x2 pixels (then the model's crop), so the resize and the argmax
    handle 4x fewer values. "full" where the final upsampling factor is odd. An
    align-corners model (one ``ResizeBilinear`` to an odd H x W): the half-size
    align-corners resize samples exactly the even pixels of the full one, so
    those keep the full-size argmax and each odd pixel copies its even neighbour.
    """
    body, tail = split_final_resize(model)
    inner = [_inner(layer) for layer in tail]
    half = (
        argmax == "half"
        and len(inner) >= 1
        and isinstance(inner[0], keras.layers.UpSampling2D)
        and all(f % 2 == 0 for f in inner[0].size)
        and all(isinstance(layer, keras.layers.Cropping2D) for layer in inner[1:])
    )
    aligned = (
        argmax == "half" and len(inner) == 1 and isinstance(inner[0], ResizeBilinear) and all(s % 2 for s in inner[0].size)
    )
    if half:
        resize = _upsampling_like(inner[0], tuple(f // 2 for f in inner[0].size), "half")
    elif aligned:
        full_size = inner[0].size
        resize = ResizeBilinear(tuple((s + 1) // 2 for s in full_size), name=f"{inner[0].name}_half")
        half = True

    def mask(x: tf.Tensor) -> tf.Tensor:
        if not half:
            return tf.cast(tf.argmax(model(x, training=False), axis=-1, output_type=tf.int32), tf.uint8)
        ids = tf.cast(tf.argmax(resize(body(x, training=False)), axis=-1, output_type=tf.int32), tf.uint8)
        # Each id to 2x2 pixels with RESHAPE + CONCATENATION, which take uint8
        # in every mode (the converter's int8-only op set lacks a uint8 resize).
        height, width = ids.shape[1], ids.shape[2]
        ids = tf.reshape(ids, [-1, height, 1, width, 1])
        ids = tf.concat([ids, ids], axis=4)
        ids = tf.reshape(tf.concat([ids, ids], axis=2), [-1, 2 * height, 2 * width])
        if aligned:  # 2 * ((S + 1) / 2) = S + 1: the last row and column go
            return ids[:, : full_size[0], : full_size[1]]
        for crop in inner[1:]:  # the model's Cropping2D layers, on the ids
            (top, bottom), (left, right) = crop.cropping
            ids = ids[:, top : ids.shape[1] - bottom, left : ids.shape[2] - right]
        return ids

    return mask


def serving_function(
    model: keras.Model,
    size: tuple[int, int],
    input_dtype: InputDtype,
    output: Output,
    preprocessing: Preprocessing | None,
    mask_argmax: MaskArgmax,
    int8: bool,
) -> tf.types.experimental.GenericFunction:
    """``model`` as the function the converter freezes: {"image"} -> {"scores"} or {"mask"}.

    Args:
      model: logits [B, H, W, C] at the input size; only called, never changed.
      size: the input's (height, width); the batch is 1.
      input_dtype: uint8 pixels normalized in the graph by ``preprocessing``
        (a 1x1 depthwise op), or float32 already normalized.
      output: probabilities (``probabilities_fn``) or class ids (``mask_fn``).
      preprocessing: the backbone's mean/std, for a uint8 input.
      mask_argmax: where a mask's argmax runs (``mask_fn``).
      int8: for a full-int8 conversion: a uint8 input is declared float (raw
        0..255 pixels) so that the converter quantizes it; a fake-quant pins its
        scale to exactly 1, zero point 0.
    """
    dtype = tf.uint8 if input_dtype.folds_normalization and not int8 else tf.float32
    probabilities = probabilities_fn(model)
    mask = mask_fn(model, mask_argmax)

    @tf.function(input_signature=[tf.TensorSpec([1, *size, 3], dtype, name="image")])
    def serve(image):
        x = image
        if input_dtype.folds_normalization:
            if int8:
                x = tf.quantization.fake_quant_with_min_max_args(x, min=0.0, max=255.0, num_bits=8)
            else:
                x = tf.cast(x, tf.float32)
            x = _normalize(x, preprocessing)
        if output.is_mask:
            return {"mask": mask(x)}
        return {"scores": probabilities(x)}

    return serve
