"""Quantization-aware copies of float models with tensorflow-model-optimization.

https://www.tensorflow.org/model_optimization/guide/quantization/training
Layers tfmot's default 8-bit scheme knows are left to it (it also folds
Conv/DepthwiseConv + BatchNormalization); the layers it lacks and our models
use (hard-swish, hard-sigmoid, Multiply) get ``OutputQuantizeConfig``, which
fake-quantizes their output as TFLite int8 kernels quantize it.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from deeplab_tf.models.activations import HardSigmoid, HardSwish

_tfmot_keras = tfmot.quantization.keras


@keras.saving.register_keras_serializable(package="deeplab_tf")
class OutputQuantizeConfig(_tfmot_keras.QuantizeConfig):
    """Quantizes only the layer's output: 8 bits, per tensor, asymmetric, moving-average range."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [
            _tfmot_keras.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False
            )
        ]

    def get_config(self):
        return {}


@keras.saving.register_keras_serializable(package="deeplab_tf")
class HardSigmoidQuantizeConfig(OutputQuantizeConfig):
    """Also quantizes ``relu6(x + 3)`` (``HardSigmoid.activation``), the int8 ADD+RELU6 output."""

    def get_activations_and_quantizers(self, layer):
        return [(layer.activation, self.get_output_quantizers(layer)[0])]

    def set_quantize_activations(self, layer, quantize_activations):
        layer.activation = quantize_activations[0]


# Layer classes tfmot's default registry lacks -> the QuantizeConfig we give them.
CUSTOM_CONFIGS = {HardSwish: OutputQuantizeConfig, HardSigmoid: HardSigmoidQuantizeConfig, keras.layers.Multiply: OutputQuantizeConfig}
# Supported by tfmot's default transforms rather than its registry.
_TRANSFORMED = (keras.layers.SeparableConv2D,)
_FOLDABLE = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def quantize_scope():
    """``tfmot`` quantize scope knowing our layers and configs (to load or clone QAT models)."""
    objects = {cls.__name__: cls for cls in (HardSwish, HardSigmoid, OutputQuantizeConfig, HardSigmoidQuantizeConfig)}
    return _tfmot_keras.quantize_scope(objects)


def _folded_batch_norm(layer) -> bool:
    """A BatchNormalization right after a linear conv, which tfmot folds into it."""
    if not isinstance(layer, keras.layers.BatchNormalization):
        return False
    inbound = [src for node in layer.inbound_nodes for src in tf.nest.flatten(node.inbound_layers)]
    return bool(inbound) and all(
        isinstance(src, _FOLDABLE) and src.activation is keras.activations.linear for src in inbound
    )


def unsupported_layers(model: keras.Model) -> list[str]:
    """``"name (Class)"`` of each layer neither tfmot's default 8-bit scheme nor our configs quantize."""
    registry = _tfmot_keras.default_8bit.Default8BitQuantizeScheme().get_quantize_registry()
    return [
        f"{layer.name} ({type(layer).__name__})"
        for layer in model.layers
        if not (
            isinstance(layer, keras.layers.InputLayer)
            or type(layer) in CUSTOM_CONFIGS
            or isinstance(layer, _TRANSFORMED)
            or (not isinstance(layer, keras.Model) and registry.supports(layer))
            or _folded_batch_norm(layer)
        )
    ]


def quantize_model(model: keras.Model, input_range: tuple[float, float] | None = None) -> keras.Model:
    """Returns a quantization-aware copy of the functional ``model`` (left unchanged).

    Args:
      model: a float Sequential or functional model (no nested models).
      input_range: (min, max) of the model's inputs, e.g. (-1, 1) after
        MINUS_ONE_TO_ONE preprocessing. tfmot starts the input quantizer at
        [0, 0], widening it only in training-mode calls, so without a range
        the copy zeroes its inputs until it has been trained for a step.

    Raises:
      ValueError: ``model`` has layers that cannot be quantized (listed).
    """
    unsupported = unsupported_layers(model)
    if unsupported:
        raise ValueError(
            f"cannot quantize model {model.name!r}: no quantization config for layers "
            f"{', '.join(unsupported)}; use stock Keras layers tfmot supports or add a "
            "QuantizeConfig in deeplab_tf.quantization.qat"
        )

    def annotate(layer):
        copy = layer.__class__.from_config(layer.get_config())
        config = CUSTOM_CONFIGS.get(type(layer))
        return _tfmot_keras.quantize_annotate_layer(copy, config()) if config else copy

    with quantize_scope():
        annotated = keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        annotated = _tfmot_keras.quantize_annotate_model(annotated)
        quantized = _tfmot_keras.quantize_apply(annotated)
    for layer in quantized.layers:
        # Weight ranges start at [-6, 6] until a training step sets them from the
        # weights; set them now, so that the copy is usable (and exportable) at once.
        for weight, quantizer, quantizer_vars in getattr(layer, "_weight_vars", ()):
            quantizer(weight, training=True, weights=quantizer_vars)
        if input_range is not None and type(layer).__name__ == "QuantizeLayer":
            layer.quantizer_vars["min_var"].assign(float(input_range[0]))
            layer.quantizer_vars["max_var"].assign(float(input_range[1]))
    return quantized
