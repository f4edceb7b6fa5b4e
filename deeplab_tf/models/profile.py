"""Model size and cost: parameters and multiply-adds counted from layer shapes."""

from __future__ import annotations

import numpy as np
import tf_keras as keras


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-adds of one call of ``layer`` (batch 1); 0 for cheap layers.

    Counts convolutions (regular, depthwise, dilated: dilation does not change
    the count), dense layers and element-wise multiplies; like the published
    DeepLab figures it leaves out batch norm (folded at export), activations,
    additions, pooling and resizes.
    """
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        out = layer.output_shape
        kh, kw = layer.kernel_size
        return int(np.prod(out[1:3])) * kh * kw * out[3]
    if isinstance(layer, keras.layers.Conv2D):
        out = layer.output_shape
        kh, kw = layer.kernel_size
        in_channels = layer.input_shape[-1] // layer.groups
        return int(np.prod(out[1:3])) * kh * kw * in_channels * out[3]
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(layer.input_shape[1:])) * layer.units
    if isinstance(layer, keras.layers.Multiply):
        return int(np.prod(layer.output_shape[1:]))
    return 0


def count_macs(model: keras.Model) -> int:
    """Total multiply-adds of one forward pass at the model's input size."""
    return sum(layer_macs(layer) for layer in model.layers)


def count_params(model: keras.Model) -> dict[str, int]:
    """Trainable, non-trainable and total parameter counts."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}
