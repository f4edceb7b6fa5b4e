"""Keras DeepLab -> TFLite flatbuffer: the pure conversion core.

``convert(model, options)`` wraps the model in a batch-1 ``tf.function``
(optional uint8 input with the backbone's normalization folded in; output
per-class scores or a fused argmax mask), traces it with ``tracing.native_ops``
(dilated convolutions stay single ops, whole-map pooling becomes a MEAN) and
runs the TFLite converter in one of five quantization modes.

int8 graphs are int8 from the input to the output: uint8 pixels (scale 1, zero
point 0) -> QUANTIZE -> the normalization as a 1x1 DEPTHWISE_CONV_2D -> the
network with batch norm folded -> SOFTMAX -> uint8 scores (scale 1/256), or
ARG_MAX (int32) -> CAST -> uint8 mask. XNNPACK runs all of it in one partition
except those ends: it converts only between same-signed 8-bit types and has
no int8 softmax or argmax. Float graphs use only ops the GPU delegate takes,
but for the uint8 input CAST and the argmax.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Iterator

import flatbuffers
import numpy as np
import tensorflow as tf
import tf_keras as keras
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.export.inspect import tensor_dtypes
from deeplab_tf.export.tracing import native_ops
from deeplab_tf.models.backbones.base import Preprocessing

QUANTIZATIONS = ("none", "fp16", "dynamic", "int8_ptq", "int8_qat")
INPUT_DTYPES = ("uint8", "float32")
OUTPUTS = ("scores", "mask")
INT8 = ("int8_ptq", "int8_qat")


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
    """

    quantization: str = "int8_qat"
    input_dtype: str = "uint8"
    output: str = "scores"
    preprocessing: Preprocessing | None = None
    calibration: Callable[[], Iterable[np.ndarray]] | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        for field, allowed in (("quantization", QUANTIZATIONS), ("input_dtype", INPUT_DTYPES), ("output", OUTPUTS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field} must be one of {allowed}, got {getattr(self, field)!r}")
        if self.input_dtype == "uint8" and self.preprocessing is None:
            raise ValueError("uint8 input needs preprocessing (the backbone's mean/std) to fold into the graph")
        if self.quantization == "int8_ptq" and self.calibration is None:
            raise ValueError("int8_ptq needs calibration: a callable returning representative images")


def _is_quantization_aware(model: keras.Model) -> bool:
    return any(type(layer).__module__.startswith("tensorflow_model_optimization") for layer in model.layers)


def _check_model(model: keras.Model, options: ConvertOptions) -> tuple[int, int, int]:
    shape, out = model.input_shape, model.output_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[3] != 3 or None in shape[1:3]:
        raise ValueError(f"model {model.name!r} needs one static-size RGB input [B, H, W, 3], got {shape}")
    if not isinstance(out, tuple) or len(out) != 4 or tuple(out[1:3]) != tuple(shape[1:3]):
        raise ValueError(f"model {model.name!r} must output logits [B, H, W, C] at input size, got {out}")
    qat = _is_quantization_aware(model)
    if options.quantization == "int8_qat" and not qat:
        raise ValueError("int8_qat needs the quantization-aware model from deeplab_tf.quantization.quantize_model")
    if options.quantization != "int8_qat" and qat:
        raise ValueError(f"{options.quantization} converts a float model, got a quantization-aware one; use int8_qat")
    if options.output == "mask" and out[3] > 256:
        raise ValueError(f"a uint8 mask holds at most 256 classes, the model has {out[3]}")
    return shape[1], shape[2], out[3]


def _normalize(pixels: tf.Tensor, preprocessing: Preprocessing) -> tf.Tensor:
    """``(x - mean) / std`` as one 1x1 depthwise convolution with bias.

    One op instead of SUB + MUL (or DIV): in int8 it takes the uint8 pixels
    (scale 1, zero point 0) straight to the normalized range.
    """
    scale = 1.0 / np.asarray(preprocessing.std, np.float32)
    offset = -np.asarray(preprocessing.mean, np.float32) * scale
    x = tf.nn.depthwise_conv2d(pixels, scale.reshape(1, 1, 3, 1), strides=[1, 1, 1, 1], padding="VALID")
    return tf.nn.bias_add(x, offset)


def _serving_function(model: keras.Model, options: ConvertOptions, height: int, width: int):
    int8 = options.quantization in INT8
    # An int8 graph's uint8 input is declared float (raw 0..255 pixels) so that the
    # converter quantizes it; the fake-quant pins its scale to exactly 1, zero point 0.
    dtype = tf.uint8 if options.input_dtype == "uint8" and not int8 else tf.float32

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], dtype, name="image")])
    def serve(image):
        x = image
        if options.input_dtype == "uint8":
            if int8:
                x = tf.quantization.fake_quant_with_min_max_args(x, min=0.0, max=255.0, num_bits=8)
            else:
                x = tf.cast(x, tf.float32)
            x = _normalize(x, options.preprocessing)
        logits = model(x, training=False)
        if options.output == "mask":
            return {"mask": tf.cast(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.uint8)}
        return {"scores": tf.nn.softmax(logits, axis=-1)}

    return serve


def _representative_dataset(options: ConvertOptions, height: int, width: int) -> Callable[[], Iterator[list]]:
    def generate():
        count = 0
        for images in options.calibration():
            images = np.array(images, np.float32).reshape(-1, height, width, 3)
            if count == 0 and options.input_dtype == "uint8":
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


def _check_int8(tflite_bytes: bytes, options: ConvertOptions) -> None:
    """Raises if an int8 export kept float (or int64) tensors, but a float32 input."""
    tensors = tensor_dtypes(tflite_bytes)
    stray = [
        tensor["name"]
        for tensor in tensors.values()
        if tensor["dtype"] in ("float32", "float16", "int64")
        and not (options.input_dtype == "float32" and tensor["input"])
    ]
    if stray:
        raise RuntimeError(
            f"the int8 export kept {len(stray)} float/int64 tensors, e.g. {stray[:5]}: an op without an int8 "
            "kernel or without a quantization range (QAT: a layer the quantize config does not cover)"
        )


def _tensor_map(name: str, index: int) -> schema.TensorMapT:
    tensor_map = schema.TensorMapT()
    tensor_map.name, tensor_map.tensorIndex = name.encode(), int(index)
    return tensor_map


def _name_signature(tflite_bytes: bytes, output: str) -> bytes:
    """Adds the signature "serving_default": {"image"} -> {output} and names the
    output tensor (a converted frozen function has no signature, its output is "Identity")."""
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    subgraph = model.subgraphs[0]
    (input_index,), (output_index,) = subgraph.inputs, subgraph.outputs
    subgraph.tensors[output_index].name = output.encode()
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = b"serving_default", 0
    signature.inputs, signature.outputs = [_tensor_map("image", input_index)], [_tensor_map(output, output_index)]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(len(tflite_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def convert(model: keras.Model, options: ConvertOptions) -> bytes:
    """Converts a DeepLab Keras model to a TFLite flatbuffer.

    Args:
      model: the float model from ``build_deeplab`` (or, for int8_qat, the
        model from ``quantize_model``): one input [B, H, W, 3], logits
        [B, H, W, C]. Only traced, never changed.
      options: quantization, input dtype, output kind, preprocessing, calibration.

    Returns:
      The .tflite bytes: input "image" [1, H, W, 3] (uint8 or float32), output
      "scores" [1, H, W, C] (float32, or uint8 = probability * 256 for int8) or
      "mask" [1, H, W] uint8.

    Raises:
      ValueError: options that do not fit the model (float model for int8_qat,
        QAT model otherwise, dynamic input size, > 256 classes for a mask).
      RuntimeError: a dilated convolution could not be traced natively, or an
        int8 export kept float tensors.
    """
    height, width, _ = _check_model(model, options)
    concrete = _trace(model, _serving_function(model, options, height, width))
    holder = tf.Module()  # keeps the variables the function captures alive
    holder.model_variables = list(model.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    # Freeze the function directly rather than saving it as a SavedModel and
    # converting that: same graph, 4x faster (1 s instead of 5 s for a smoke model;
    # with the Keras model as trackable object, 20 s to serialize every layer).
    converter.experimental_lower_to_saved_model = False
    if options.quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if options.quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif options.quantization in INT8:
        if options.quantization == "int8_ptq":
            converter.representative_dataset = _representative_dataset(options, height, width)
            # Not for QAT: the converter then asks for a representative dataset
            # before it has looked for fake-quant ops. QAT graphs are all int8 anyway.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if options.input_dtype == "uint8":
            converter.inference_input_type = tf.uint8
        if options.output == "scores":
            converter.inference_output_type = tf.uint8
    with warnings.catch_warnings():
        # Asked of uint8 inputs by the converter's pre-MLIR checks; here the input's
        # scale comes from the fake-quant (or calibration) in the graph.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        tflite_bytes = converter.convert()
    if options.quantization in INT8:
        _check_int8(tflite_bytes, options)
    return _name_signature(tflite_bytes, options.output)
