"""Activation ranges of a quantization-aware model, and its float-equivalent form.

tfmot starts every activation range at [-6, 6] and moves it by an exponential
moving average (decay 0.999) per training step, so a short fine-tuning leaves
ranges that fit nothing: a ReLU output in [0, 0.5] gets 3 of its 256 levels.
``calibrate`` sets them from real batches first: each range is the mean over
the batches of the batch's [min, max] of the float tensor it quantizes in a
training-mode pass (batch-norm batch statistics), the value tfmot's moving
average converges to during fine-tuning. Not inference mode: the moving
statistics of a barely trained model lag its batch statistics, its inference
activations are orders of magnitude smaller than its training ones, and
ranges fitted to them clip every training activation to a near-constant,
whose batch normalization then multiplies gradients by ~30 per layer (1e18
at the stem of a 4-step MobileNetV2 DeepLab).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from deeplab_tf.quantization.qat import is_quantize_layer

_Quantizer = tfmot.quantization.keras.quantizers.Quantizer


class _PassThrough(_Quantizer):
    """Stands in for a quantizer: returns its input, after handing it to ``observe``."""

    def __init__(self, observe=None):
        self.observe = observe

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        if self.observe is not None and weights:
            self.observe(inputs, weights)
        return inputs

    def get_config(self):
        return {}


@contextlib.contextmanager
def _quantizers_replaced(model: keras.Model, weight_quantizer, activation_quantizer, input_quantizer):
    """Within the block, ``model``'s quantizers of each kind are replaced (None: kept)."""
    undo = []

    def swap(owner, attribute, new):
        if new is not None:
            undo.append((owner, attribute, getattr(owner, attribute)))
            setattr(owner, attribute, new)

    try:
        for layer in model.layers:
            if is_quantize_layer(layer) and layer.quantizer is not None:
                swap(layer, "quantizer", input_quantizer)
            if not isinstance(layer, tfmot.quantization.keras.QuantizeWrapper):
                continue
            if weight_quantizer is not None and layer._weight_vars:
                swap(layer, "_weight_vars", [(w, weight_quantizer, v) for w, _, v in layer._weight_vars])
            for activation in layer._quantize_activations:
                swap(activation, "quantizer", activation_quantizer)
            if activation_quantizer is not None and layer._output_quantizers:
                swap(layer, "_output_quantizers", [activation_quantizer] * len(layer._output_quantizers))
        yield
    finally:
        for owner, attribute, value in reversed(undo):
            setattr(owner, attribute, value)


@contextlib.contextmanager
def fake_quant_disabled(model: keras.Model):
    """Within the block, the QAT ``model`` computes in float: every fake-quant
    (weights, activations, input) passes values through unchanged.

    What is left is the float model the QAT model was made from (batch norm
    unfolded, as tfmot keeps it): a check that quantization changed nothing else.
    Eager calls only: a function traced inside the block keeps the pass-through.
    """
    identity = _PassThrough()
    with _quantizers_replaced(model, identity, identity, identity):
        yield model


def calibrate(model: keras.Model, batches: Iterable, training: bool = True) -> dict[str, tuple[float, float]]:
    """Sets each activation range of the QAT ``model`` from ``batches``.

    The model runs with fake quantization off, in training mode by default (as
    fine-tuning will; its variables are restored afterwards: batch-norm moving
    statistics, dropout state); each activation/output quantizer's range
    becomes the mean over batches of ``[min(0, batch min), max(0, batch max)]``
    of the tensor it quantizes. The input quantizer keeps the range
    ``quantize_model`` got (all pixel values an app may send, not only those
    the batches hold); weight ranges follow the weights.

    Args:
      model: from ``quantize_model``.
      batches: model inputs [B, H, W, C] (arrays or tensors), or dicts with "image".
      training: True: the ranges fine-tuning starts from (batch statistics);
        False: those of inference (moving statistics), for a model converted
        without fine-tuning. The same for a well-trained model.

    Returns:
      ``{variable name prefix: (min, max)}`` of each range set.

    Raises:
      ValueError: no batches, or a range that no batch reached (a layer the
        model's call never ran).
    """
    observed: dict[int, list] = {}

    def observe(inputs, weights):
        entry = observed.setdefault(id(weights["min_var"]), [weights, [], []])
        entry[1].append(min(0.0, float(tf.reduce_min(inputs))))
        entry[2].append(max(0.0, float(tf.reduce_max(inputs))))

    count = 0
    saved = [(variable, variable.numpy()) for variable in model.variables]
    try:
        with _quantizers_replaced(model, _PassThrough(), _PassThrough(observe), _PassThrough()):
            for batch in batches:
                images = batch["image"] if isinstance(batch, dict) else batch
                model(tf.convert_to_tensor(images, tf.float32), training=training)
                count += 1
    finally:
        for variable, value in saved:
            variable.assign(value)
    if not count:
        raise ValueError("calibration got no batches")
    targets = _activation_ranges(model)
    missing = sorted(name for key, (name, _) in targets.items() if key not in observed)
    if missing:
        raise ValueError(f"calibration never reached the quantizers {missing}")
    ranges = {}
    for key, (name, variables) in targets.items():
        _, lows, highs = observed[key]
        low, high = float(np.mean(lows)), float(np.mean(highs))
        if high - low < 1e-6:  # an all-zero tensor (a dead ReLU): keep a valid range
            high = low + 1e-6
        variables["min_var"].assign(low)
        variables["max_var"].assign(high)
        ranges[name] = (low, high)
    return ranges


def _activation_ranges(model: keras.Model) -> dict[int, tuple[str, dict]]:
    """``{id(min variable): (name, {"min_var", "max_var"})}`` of every activation/output range."""
    found = {}
    for layer in model.layers:
        if not isinstance(layer, tfmot.quantization.keras.QuantizeWrapper):
            continue
        candidates = [getattr(layer, "_output_quantizer_vars", None) if layer._output_quantizers else None]
        for activation in layer._quantize_activations:
            candidates += [getattr(activation, "_pre_activation_vars", None), getattr(activation, "_post_activation_vars", None)]
        for variables in candidates:
            if variables and "min_var" in variables:
                found[id(variables["min_var"])] = (variables["min_var"].name.rsplit("_min", 1)[0], variables)
    return found
