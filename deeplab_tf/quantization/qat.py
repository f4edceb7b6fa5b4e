"""Quantization-aware copies of float models with tensorflow-model-optimization.

https://www.tensorflow.org/model_optimization/guide/quantization/training
Layers tfmot's default 8-bit scheme knows are left to it (it also folds
Conv/DepthwiseConv + BatchNormalization); the layers it lacks and our models
use (hard-swish, hard-sigmoid, Multiply) get ``OutputQuantizeConfig``, which
fake-quantizes their output as TFLite int8 kernels quantize it. Upsampling gets
``ResizeQuantizeConfig``: TFLite's int8 RESIZE_BILINEAR keeps its input's
scale, so the layer must not have a range of its own (tfmot gives it one, and
the converter then forces that range onto the producing layer, which no longer
computes what the QAT model simulated). Whole-map average pooling (the ASPP
image pooling) keeps tfmot's output config: it becomes an int8 MEAN with that
range, which the QAT model simulates exactly.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.quantization.keras.graph_transformations import model_transformer
from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import QuantizeLayer

from deeplab_tf.models.activations import HardSigmoid, HardSwish
from deeplab_tf.models.layers import ResizeBilinear

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


@keras.saving.register_keras_serializable(package="deeplab_tf")
class ResizeQuantizeConfig(OutputQuantizeConfig):
    """No quantizer: an int8 resize (bilinear or nearest) computes on its input's grid."""

    def get_output_quantizers(self, layer):
        return []


# Layer classes tfmot's default registry lacks or mis-simulates -> the QuantizeConfig we give them.
CUSTOM_CONFIGS = {
    HardSwish: OutputQuantizeConfig,
    HardSigmoid: HardSigmoidQuantizeConfig,
    keras.layers.Multiply: OutputQuantizeConfig,
    keras.layers.UpSampling2D: ResizeQuantizeConfig,
    ResizeBilinear: ResizeQuantizeConfig,
}
_CUSTOM_OBJECTS = (
    HardSwish,
    HardSigmoid,
    ResizeBilinear,
    OutputQuantizeConfig,
    HardSigmoidQuantizeConfig,
    ResizeQuantizeConfig,
)
# Supported by tfmot's default transforms rather than its registry.
_TRANSFORMED = (keras.layers.SeparableConv2D,)
_FOLDABLE = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def quantize_scope():
    """``tfmot`` quantize scope knowing our layers and configs (to load or clone QAT models)."""
    return _tfmot_keras.quantize_scope({cls.__name__: cls for cls in _CUSTOM_OBJECTS})


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


def is_quantize_layer(layer) -> bool:
    """tfmot's layer that quantizes a model input."""
    return isinstance(layer, QuantizeLayer)  # not exported by tfmot 0.8


def float_layer(layer):
    """The float layer a QAT model's layer wraps (the layer itself if it wraps none)."""
    return layer.layer if isinstance(layer, _tfmot_keras.QuantizeWrapper) else layer


def quantize_model(model: keras.Model, input_range: tuple[float, float] | None = None) -> keras.Model:
    """Returns a quantization-aware copy of the functional ``model`` (left unchanged).

    Weights are copied layer by layer, matched by name (``copy_float_weights``);
    weight ranges are set from them. Activation ranges start at tfmot's [-6, 6]:
    set them with ``calibration.calibrate`` before fine-tuning or exporting.

    Args:
      model: a float Sequential or functional model (no nested models).
      input_range: (min, max) of the model's inputs, e.g. (-1, 1) after
        MINUS_ONE_TO_ONE preprocessing. tfmot starts the input quantizer at
        [0, 0], widening it only in training-mode calls, so without a range
        the copy zeroes its inputs until it has been trained for a step.

    Raises:
      ValueError: ``model`` has layers that cannot be quantized (listed).
      RuntimeError: a multi-input layer of the copy has other inputs, or
        inputs in another order, than in ``model`` (a tfmot bug; see below).
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
        annotated = _tfmot_keras.quantize_annotate_model(annotated)
        with _order_keeping_layer_lookup():
            quantized = _tfmot_keras.quantize_apply(annotated)
    mismatches = input_order_mismatches(quantized, model)
    if mismatches:
        raise RuntimeError(
            "tfmot's quantize_apply changed the inputs of multi-input layers (tensorflow/model-optimization#1061, "
            "#1179): " + "; ".join(mismatches)
        )
    copy_float_weights(model, quantized)
    for layer in quantized.layers:
        # Weight ranges start at [-6, 6] until a training step sets them from the
        # weights; set them now, so that the copy is usable (and exportable) at once.
        for weight, quantizer, quantizer_vars in getattr(layer, "_weight_vars", ()):
            quantizer(weight, training=True, weights=quantizer_vars)
        if input_range is not None and is_quantize_layer(layer):
            layer.quantizer_vars["min_var"].assign(float(input_range[0]))
            layer.quantizer_vars["max_var"].assign(float(input_range[1]))
    return quantized


def copy_float_weights(float_model: keras.Model, qat_model: keras.Model) -> None:
    """Copies each float layer's weights into the QAT layer of the same name.

    Raises:
      ValueError: a layer with weights on one side only, or weights of other
        names or shapes (all such layers are listed).
    """
    targets = {float_layer(layer).name: _float_weights(layer) for layer in qat_model.layers if not is_quantize_layer(layer)}
    sources = {layer.name: {_short(w): w for w in layer.weights} for layer in float_model.layers}
    problems = [f"{name}: not in the QAT model" for name, weights in sources.items() if weights and name not in targets]
    problems += [f"{name}: not in the float model" for name, weights in targets.items() if weights and name not in sources]
    for name, weights in sources.items():
        if name in targets:
            want = {key: tuple(w.shape) for key, w in weights.items()}
            got = {key: tuple(w.shape) for key, w in targets[name].items()}
            if got != want:
                problems.append(f"{name}: weights {want} in the float model, {got} in the QAT model")
    if problems:
        raise ValueError(
            f"the weights of {float_model.name!r} do not match the QAT model layer by layer: " + "; ".join(problems)
        )
    for name, weights in sources.items():
        for key, weight in weights.items():
            targets[name][key].assign(weight)


def _short(weight) -> str:
    return weight.name.split("/")[-1]


def _float_weights(layer) -> dict:
    """``{short name: variable}`` of a QAT layer's float weights (a wrapper's quantizer variables left out)."""
    if not isinstance(layer, _tfmot_keras.QuantizeWrapper):
        return {_short(w): w for w in layer.weights}
    # A wrapper replaces the quantized weights (kernels) of its layer by tensors, so
    # the layer no longer lists them; the wrapper keeps them in _weight_vars.
    weights = [weight for weight, _, _ in layer._weight_vars] + layer.layer.weights
    return {_short(w): w for w in weights}


# --- tfmot reorders the inputs of multi-input layers ---------------------------
# quantize_apply rewrites the graph with ModelTransformer, whose _get_layers
# returns the layers asked for in model order instead of the order asked
# (tensorflow/model-optimization#1179): a pattern matched on a Concatenate then
# gets its inputs permuted and the rewritten graph feeds them permuted (#1061),
# e.g. DeepLab's aspp_concat got the image-pooling branch first and aspp_project
# saw permuted channels. quantize_model runs quantize_apply with an
# order-keeping lookup and then checks every multi-input layer's inputs.


@contextlib.contextmanager
def _order_keeping_layer_lookup():
    transformer = model_transformer.ModelTransformer
    original = transformer._get_layers

    def get_layers(self, layer_names):
        by_name = {layer["config"]["name"]: layer for layer in self._config["layers"]}
        return [by_name[name] for name in dict.fromkeys(layer_names) if name in by_name]

    transformer._get_layers = get_layers
    try:
        yield
    finally:
        transformer._get_layers = original


def _float_name(layer_config: dict, qat_layers: dict) -> str:
    """The float model's name for a QAT config's layer: wrappers by their inner
    layer, a QuantizeLayer by the layer it quantizes (the model input)."""
    if layer_config["class_name"] == "QuantizeWrapperV2":
        return layer_config["config"]["layer"]["config"]["name"]
    if layer_config["class_name"] == "QuantizeLayer" and layer_config["inbound_nodes"]:
        return _float_name(qat_layers[layer_config["inbound_nodes"][0][0][0]], qat_layers)
    return layer_config["name"]


def input_order_mismatches(qat_model: keras.Model, float_model: keras.Model) -> list[str]:
    """``"layer: inputs [...], float [...]"`` for each multi-input layer of
    ``qat_model`` whose inputs differ from (or are permuted against) ``float_model``'s."""
    config = qat_model.get_config()
    qat_layers = {layer["name"]: layer for layer in config["layers"]}
    by_float_name = {_float_name(layer, qat_layers): layer for layer in config["layers"]}
    mismatches = []
    for float_config in float_model.get_config()["layers"]:
        for node_index, float_node in enumerate(float_config["inbound_nodes"]):
            if len(float_node) < 2:
                continue
            qat_layer = by_float_name.get(float_config["name"])
            qat_node = qat_layer["inbound_nodes"][node_index] if qat_layer else []
            got = [_float_name(qat_layers[entry[0]], qat_layers) for entry in qat_node]
            wanted = [entry[0] for entry in float_node]
            if got != wanted:
                mismatches.append(f"{float_config['name']}: inputs {got}, float {wanted}")
    return mismatches
