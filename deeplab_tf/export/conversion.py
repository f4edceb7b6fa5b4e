"""Keras DeepLab -> TFLite flatbuffer: ``convert(model, options)``, the pure conversion core.

The model is checked against the options, wrapped as the batch-1 serving function
(``serving_graph``), traced with ``tracing.native_ops`` (dilated convolutions stay
single ops, whole-map pooling becomes a MEAN), converted by the TFLite converter
in one of five quantization modes, an int8 result checked to be int8 throughout,
and the flatbuffer edited by ``rewrites.PASSES``. The graphs it makes, op by op,
and what each choice measured: WORKSPACE.md, "The .tflite export".
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.modes import InputDtype, MaskArgmax, Output, Quantization
from deeplab_tf.export.inspect import tensor_dtypes
from deeplab_tf.export.rewrites import PASSES, Pass, rewrite
from deeplab_tf.export.serving_graph import serving_function
from deeplab_tf.export.tracing import native_ops
from deeplab_tf.models.backbones.base import Preprocessing

# The choices, for flags and messages (the modes themselves: deeplab_tf.artifacts.modes).
QUANTIZATIONS, INPUT_DTYPES = Quantization.choices(), InputDtype.choices()
OUTPUTS, MASK_ARGMAX = Output.choices(), MaskArgmax.choices()
INT8 = tuple(mode.value for mode in Quantization if mode.is_int8)


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """How to convert.

    Attributes:
      quantization: "none" (float32), "fp16" (float16 weights), "dynamic"
        (int8 weights, float activations), "int8_ptq" (full int8, calibrated
        on ``calibration``) or "int8_qat" (full int8 from the fake-quant
        ranges of a model made by ``deeplab_tf.quantization.quantize_model``).
      input_dtype: "uint8": RGB pixels as a camera gives them, normalized
        in the graph by ``preprocessing``; "float32": already normalized.
      output: "scores": per-class probabilities [1, H, W, C] (float32, or
        uint8 with scale 1/256 for int8); "mask": class ids [1, H, W] uint8.
      preprocessing: the backbone's mean/std (needed for uint8 input).
      calibration: for int8_ptq, a callable returning an iterable of images
        [H, W, 3] or batches [B, H, W, 3] in the input dtype's form (uint8-range
        pixels, or normalized floats); a few dozen real images are plenty.
      mask_argmax: for a mask, where the argmax runs (``serving_graph.mask_fn``):
        "half" the input size, each class id then copied to 2x2 pixels, or "full" size.
    """

    quantization: Quantization = Quantization.INT8_QAT
    input_dtype: InputDtype = InputDtype.UINT8
    output: Output = Output.SCORES
    preprocessing: Preprocessing | None = None
    calibration: Callable[[], Iterable[np.ndarray]] | None = dataclasses.field(default=None, compare=False)
    mask_argmax: MaskArgmax = MaskArgmax.HALF

    def __post_init__(self):
        modes = (
            ("quantization", Quantization),
            ("input_dtype", InputDtype),
            ("output", Output),
            ("mask_argmax", MaskArgmax),
        )
        for field, mode in modes:
            object.__setattr__(self, field, mode.parse(getattr(self, field), field))
        if self.input_dtype.folds_normalization and self.preprocessing is None:
            raise ValueError("uint8 input needs preprocessing (the backbone's mean/std) to fold into the graph")
        if self.quantization.needs_calibration and self.calibration is None:
            raise ValueError("int8_ptq needs calibration: a callable returning representative images")


def convert(model: keras.Model, options: ConvertOptions, passes: Sequence[Pass] = PASSES) -> bytes:
    """Converts a DeepLab Keras model to a TFLite flatbuffer.

    Args:
      model: the float model from ``build_deeplab`` (or, for int8_qat, the
        model from ``quantize_model``): one input [B, H, W, 3], logits
        [B, H, W, C]. Only traced, never changed.
      options: quantization, input dtype, output kind, preprocessing, calibration.
      passes: the flatbuffer rewrites to run, in order (``rewrites.rewrite``);
        default all of ``rewrites.PASSES``.

    Returns:
      The .tflite bytes: input "image" [1, H, W, 3] (uint8 or float32), output
      "scores" [1, H, W, C] (``probabilities_fn``: float32, or uint8 = probability
      * 256 for int8) or "mask" [1, H, W] uint8 (argmax of the resized logits).

    Raises:
      ValueError: options that do not fit the model (float model for int8_qat,
        QAT model otherwise, dynamic input size, > 256 classes for a mask).
      RuntimeError: a dilated convolution could not be traced natively, or an
        int8 export kept float tensors.
    """
    height, width, _ = _check_model(model, options)
    serve = serving_function(
        model,
        (height, width),
        options.input_dtype,
        options.output,
        options.preprocessing,
        options.mask_argmax,
        int8=options.quantization.is_int8,
    )
    converter = _converter(model, _trace(model, serve), options, height, width)
    with warnings.catch_warnings():
        # Asked of uint8 inputs by the converter's pre-MLIR checks; here the input's
        # scale comes from the fake-quant (or calibration) in the graph.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        tflite_bytes = converter.convert()
    if options.quantization.is_int8:
        check_int8(tflite_bytes, options)
    return rewrite(tflite_bytes, options.output, passes)


def _converter(
    model: keras.Model,
    concrete: tf.types.experimental.ConcreteFunction,
    options: ConvertOptions,
    height: int,
    width: int,
) -> tf.lite.TFLiteConverter:
    """The TFLite converter of the traced serving function, set for ``options.quantization``."""
    holder = tf.Module()  # keeps the variables the function captures alive
    holder.model_variables = list(model.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    # Freeze the function directly rather than saving it as a SavedModel and
    # converting that: the same graph, in a fraction of the time.
    converter.experimental_lower_to_saved_model = False
    if options.quantization is not Quantization.NONE:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if options.quantization is Quantization.FP16:
        converter.target_spec.supported_types = [tf.float16]
    elif options.quantization.is_int8:
        if options.quantization.needs_calibration:
            converter.representative_dataset = _representative_dataset(options, height, width)
            # Not for QAT: the converter then asks for a representative dataset
            # before it has looked for fake-quant ops. QAT graphs are all int8 anyway.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if options.input_dtype.folds_normalization:
            converter.inference_input_type = tf.uint8
        if not options.output.is_mask:
            converter.inference_output_type = tf.uint8
    return converter


def _is_quantization_aware(model: keras.Model) -> bool:
    return any(type(layer).__module__.startswith("tensorflow_model_optimization") for layer in model.layers)


def _check_model(model: keras.Model, options: ConvertOptions) -> tuple[int, int, int]:
    shape, out = model.input_shape, model.output_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[3] != 3 or None in shape[1:3]:
        raise ValueError(f"model {model.name!r} needs one static-size RGB input [B, H, W, 3], got {shape}")
    if not isinstance(out, tuple) or len(out) != 4 or tuple(out[1:3]) != tuple(shape[1:3]):
        raise ValueError(f"model {model.name!r} must output logits [B, H, W, C] at input size, got {out}")
    qat = _is_quantization_aware(model)
    if options.quantization.needs_qat_model and not qat:
        raise ValueError("int8_qat needs the quantization-aware model from deeplab_tf.quantization.quantize_model")
    if not options.quantization.needs_qat_model and qat:
        raise ValueError(f"{options.quantization} converts a float model, got a quantization-aware one; use int8_qat")
    if options.output.is_mask and out[3] > 256:
        raise ValueError(f"a uint8 mask holds at most 256 classes, the model has {out[3]}")
    return shape[1], shape[2], out[3]


def _representative_dataset(options: ConvertOptions, height: int, width: int) -> Callable[[], Iterator[list]]:
    def generate():
        count = 0
        for images in options.calibration():
            images = np.array(images, np.float32).reshape(-1, height, width, 3)
            if count == 0 and options.input_dtype.folds_normalization:
                # The calibrator records the range of the input fake-quant's output from
                # the data: unless the pixels span all of 0..255 it differs from the
                # fake-quant's, and a float QUANTIZE/DEQUANTIZE pair is left at the input.
                # Two corner pixels of the first image make every calibration span it.
                images[0, 0, 0], images[0, 0, -1] = 0.0, 255.0
            for image in images:
                count += 1
                yield [image[None]]
        if not count:
            raise ValueError("calibration gave no images")

    return generate


def _trace(model: keras.Model, serve) -> tf.types.experimental.ConcreteFunction:
    with native_ops(model):
        concrete = serve.get_concrete_function()
    graph_def = concrete.graph.as_graph_def()
    ops = {node.op for node in graph_def.node} | {n.op for f in graph_def.library.function for n in f.node_def}
    emulated = ops & {"SpaceToBatchND", "BatchToSpaceND"}
    if emulated:
        raise RuntimeError(f"the traced graph still emulates dilation with {sorted(emulated)}")
    return concrete


def check_int8(tflite_bytes: bytes, options: ConvertOptions) -> None:
    """Raises if an int8 export kept float (or int64) tensors, but a float32 input."""
    tensors = tensor_dtypes(tflite_bytes)
    stray = [
        tensor["name"]
        for tensor in tensors.values()
        if tensor["dtype"] in ("float32", "float16", "int64")
        and (options.input_dtype.folds_normalization or not tensor["input"])  # float32 input stays float
    ]
    if stray:
        raise RuntimeError(
            f"the int8 export kept {len(stray)} float/int64 tensors, e.g. {stray[:5]}: an op without an int8 "
            "kernel or without a quantization range (QAT: a layer the quantize config does not cover)"
        )
