"""Keras DeepLab -> TFLite flatbuffer: the pure conversion core.

``convert(model, options)`` wraps the model in a batch-1 ``tf.function``
(optional uint8 input with the backbone's normalization folded in; output
per-class scores or a fused argmax mask), traces it with ``tracing.native_ops``
(dilated convolutions stay single ops, whole-map pooling becomes a MEAN) and
runs the TFLite converter in one of five quantization modes.

int8 graphs are int8 from the input to the output but for two float islands:
uint8 pixels -> DEQUANTIZE + QUANTIZE -> the network with batch norm folded ->
either logits at feature resolution (v3: upsampled 2x first) -> DEQUANTIZE,
SOFTMAX in float, QUANTIZE -> final bilinear resize (+ crop) in uint8 -> uint8
scores (scale 1/256), or logits resized to half size -> ARG_MAX (int32) ->
CAST -> each id copied to 2x2 pixels -> uint8 mask. A normalization that is the
same for every channel (MobileNet, Xception: (p - 127.5) / 127.5) is the
input's quantization (scale 1/127.5, zero point 127); a per-channel one
(ResNet) is a 1x1 DEPTHWISE_CONV_2D after the QUANTIZE, the input at scale 1,
zero point 0. XNNPACK runs all of it but the argmax and the uint8 ops after it.
Float graphs use only ops the GPU delegate takes, but for the argmax; a uint8
input is DEQUANTIZEd (scale 1), which XNNPACK and the GPU delegate (quantized
models enabled, its default) run, then normalized by a 1x1 DEPTHWISE_CONV_2D.
Scores are probabilities resized (``probabilities_fn``), in every mode.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import warnings
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf
import tf_keras as keras
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.artifacts.modes import InputDtype, MaskArgmax, Output, Quantization
from deeplab_tf.export.flatbuffer import pack_model
from deeplab_tf.export.inspect import tensor_dtypes
from deeplab_tf.export.tracing import native_ops
from deeplab_tf.models.backbones.base import Preprocessing
from deeplab_tf.models.layers import ResizeBilinear

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
      mask_argmax: for a mask, where the argmax runs (``mask_fn``): "half" the
        input size, each class id then copied to 2x2 pixels, or "full" size.
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


def _normalize(pixels: tf.Tensor, preprocessing: Preprocessing) -> tf.Tensor:
    """``(x - mean) / std`` as one 1x1 depthwise convolution with bias.

    One op instead of SUB + MUL (or DIV): in int8 it takes the uint8 pixels
    (scale 1, zero point 0) straight to the normalized range.
    """
    scale = 1.0 / np.asarray(preprocessing.std, np.float32)
    offset = -np.asarray(preprocessing.mean, np.float32) * scale
    x = tf.nn.depthwise_conv2d(pixels, scale.reshape(1, 1, 3, 1), strides=[1, 1, 1, 1], padding="VALID")
    return tf.nn.bias_add(x, offset)


_RESIZE_LAYERS = (keras.layers.UpSampling2D, keras.layers.Cropping2D, ResizeBilinear)


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
        if not isinstance(getattr(layer, "layer", layer), _RESIZE_LAYERS):
            break
        tail.append(layer)
        tensor = layer.input
    if not tail:
        return model, []
    # Same name as the model: the converted tensors keep their names (and length).
    return keras.Model(model.inputs, tensor, name=model.name), tail[::-1]


# The largest upsampling factor that follows the softmax. A boundary between two
# classes moves by a fraction of that factor. Measured on CamVid val at 360x480
# (pixels that keep the class of the full-size logits' argmax; mIoU for the
# full-size argmax's): v3+ (4x) 99.41%, 57.23 for 57.29; deeplabv3_mnv2_camvid
# (16x): softmax after 4x, then 4x: 99.60%, 51.99 for 51.94; after 2x, then 8x:
# 98.59%, 52.07; at the logits, then 16x: 97.49%, 51.24 (rejected). So a larger
# final upsampling is split: the logits are upsampled by the rest first, then
# the softmax, then the last 8x.
MAX_SOFTMAX_UPSAMPLING = 8


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
    pixel, and the softmax runs on 16x (v3+) or 64x (v3) fewer values (at
    257x257, v3 at output stride 16, side by side: the int8 file 2.14 ms, 2.22 ms
    with the softmax after 4x; about 3x slower with it at full size).
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
    copied to 2x2 pixels (then the model's crop). The resize and the argmax
    then handle 4x fewer values: at 512x512 they are ~7 of an int8 graph's
    ~35 ms. The CamVid v3+ model at 360x480: 98.6% of the val pixels keep
    their class, mIoU 57.26 for 57.29 (pixel accuracy 84.37% for 84.36%).
    "full" where the final upsampling factor is odd. An align-corners model
    (one ``ResizeBilinear`` to an odd H x W): the half-size align-corners
    resize samples exactly the even pixels of the full one, so those keep the
    full-size argmax and each odd pixel copies its even neighbour.
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


def _serving_function(model: keras.Model, options: ConvertOptions, height: int, width: int):
    int8 = options.quantization.is_int8
    # An int8 graph's uint8 input is declared float (raw 0..255 pixels) so that the
    # converter quantizes it; the fake-quant pins its scale to exactly 1, zero point 0.
    dtype = tf.uint8 if options.input_dtype.folds_normalization and not int8 else tf.float32
    probabilities = probabilities_fn(model)
    mask = mask_fn(model, options.mask_argmax)

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], dtype, name="image")])
    def serve(image):
        x = image
        if options.input_dtype.folds_normalization:
            if int8:
                x = tf.quantization.fake_quant_with_min_max_args(x, min=0.0, max=255.0, num_bits=8)
            else:
                x = tf.cast(x, tf.float32)
            x = _normalize(x, options.preprocessing)
        if options.output.is_mask:
            return {"mask": mask(x)}
        return {"scores": probabilities(x)}

    return serve


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


def _check_int8(tflite_bytes: bytes, options: ConvertOptions) -> None:
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


# Ops that only move or interpolate values (weights summing to 1), so an affine
# requantization commutes with them: int8 -> uint8 at the same scale adds 128.
_SHIFT_COMMUTING_OPS = {schema.BuiltinOperator.RESIZE_BILINEAR, schema.BuiltinOperator.STRIDED_SLICE}


def _opcode(model: schema.ModelT, op: schema.OperatorT) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _quantize_before_resize(model: schema.ModelT) -> None:
    """Moves the int8 -> uint8 QUANTIZE of the output before the final resize (and crop).

    XNNPACK runs the int8 and the uint8 RESIZE_BILINEAR but not the QUANTIZE
    between them (it converts only between same-signed types); before the resize
    it converts 16x fewer values. Both resize kernels interpolate in integers with
    weights summing to a power of two, so the uint8 result is the int8 one + 128,
    bit for bit. No-op unless the graph ends QUANTIZE(int8 -> uint8, same scale,
    zero point + 128) after a chain of such ops, each tensor used once.
    """
    subgraph = model.subgraphs[0]
    producer = {t: op for op in subgraph.operators for t in op.outputs}
    uses = collections.Counter(t for op in subgraph.operators for t in op.inputs)
    (output,) = subgraph.outputs
    quantize = producer.get(output)
    if quantize is None or _opcode(model, quantize) != schema.BuiltinOperator.QUANTIZE:
        return
    tensors = subgraph.tensors
    src, dst = tensors[quantize.inputs[0]], tensors[output]

    def params(tensor):
        q = tensor.quantization
        return (list(q.scale), list(q.zeroPoint)) if q is not None and q.scale is not None else None

    if src.type != schema.TensorType.INT8 or dst.type != schema.TensorType.UINT8:
        return
    (scale,), (zero_point,) = params(src)
    if params(dst) != ([scale], [zero_point + 128]):
        return
    chain, index = [], quantize.inputs[0]
    while uses[index] == 1 and index in producer and _opcode(model, producer[index]) in _SHIFT_COMMUTING_OPS:
        chain.append(producer[index])
        index = producer[index].inputs[0]
        if params(tensors[index]) != ([scale], [zero_point]):
            return
    if not chain or uses[index] != 1:
        return
    # Re-use the int8 tensor that fed the QUANTIZE as the uint8 one at the start of the chain.
    moved = quantize.inputs[0]
    tensors[moved].shape = np.array(tensors[index].shape)
    tensors[moved].shapeSignature = tensors[index].shapeSignature
    for op in chain[1:]:
        tensors[op.outputs[0]].type = schema.TensorType.UINT8
        tensors[op.outputs[0]].quantization = copy.deepcopy(dst.quantization)
    tensors[moved].type, tensors[moved].quantization = schema.TensorType.UINT8, copy.deepcopy(dst.quantization)
    quantize.inputs, quantize.outputs = [index], [moved]
    chain[-1].inputs = [moved, *chain[-1].inputs[1:]]
    chain[0].outputs = [output]
    # Execution order: the QUANTIZE now runs right before the chain.
    operators = [op for op in subgraph.operators if op is not quantize]
    operators.insert(operators.index(chain[-1]), quantize)
    subgraph.operators = operators


def _operator_code(model: schema.ModelT, builtin: int) -> int:
    """The index of ``builtin``'s operator code in ``model``, added if missing."""
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _dequantize(model: schema.ModelT, index: int) -> schema.OperatorT:
    """A DEQUANTIZE of tensor ``index`` into a new float32 tensor of its shape
    ("<name>_float"); the caller points a consumer at it and places the op."""
    tensors = model.subgraphs[0].tensors
    source, floats = tensors[index], schema.TensorT()
    floats.name, floats.type, floats.buffer = source.name + b"_float", schema.TensorType.FLOAT32, 0
    floats.shape = np.array(source.shape)
    floats.shapeSignature = None if source.shapeSignature is None else np.array(source.shapeSignature)
    tensors.append(floats)
    dequantize = schema.OperatorT()
    dequantize.opcodeIndex = _operator_code(model, schema.BuiltinOperator.DEQUANTIZE)
    dequantize.inputs, dequantize.outputs = [index], [len(tensors) - 1]
    return dequantize


def _uint8_input_reader(model: schema.ModelT, builtin: int, output_type: int) -> schema.OperatorT | None:
    """The one op that reads the graph's uint8 input, if it is a ``builtin`` with an
    ``output_type`` output; else None."""
    subgraph = model.subgraphs[0]
    (index,) = subgraph.inputs
    readers = [op for op in subgraph.operators if index in op.inputs]
    if (
        subgraph.tensors[index].type != schema.TensorType.UINT8
        or len(readers) != 1
        or _opcode(model, readers[0]) != builtin
        or subgraph.tensors[readers[0].outputs[0]].type != output_type
    ):
        return None
    return readers[0]


def _dequantize_input_cast(model: schema.ModelT) -> None:
    """Makes a float graph's uint8 input CAST (uint8 -> float32) a DEQUANTIZE of
    the input at scale 1, zero point 0: the same values, and XNNPACK runs it.

    XNNPACK does not take that CAST, so it ran on the CPU ahead of the
    delegated graph (at 512x512 the DEQUANTIZE file ran 1% faster, v3
    MobileNetV2, side by side). The input's quantization is what an int8
    file's uint8 input has; apps feed the same pixels. No-op unless the graph
    starts with such a CAST.
    """
    cast = _uint8_input_reader(model, schema.BuiltinOperator.CAST, schema.TensorType.FLOAT32)
    if cast is None:
        return
    subgraph = model.subgraphs[0]
    tensor = subgraph.tensors[subgraph.inputs[0]]
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale = np.array([1.0], np.float32)
    tensor.quantization.zeroPoint = np.array([0], np.int64)
    cast.opcodeIndex = _operator_code(model, schema.BuiltinOperator.DEQUANTIZE)
    cast.builtinOptionsType, cast.builtinOptions = schema.BuiltinOptions.NONE, None


def _dequantize_input_first(model: schema.ModelT) -> None:
    """Splits the uint8 -> int8 input QUANTIZE into DEQUANTIZE (uint8 -> float32)
    and QUANTIZE (float32 -> int8), which XNNPACK both runs.

    XNNPACK converts only between same-signed 8-bit types, so the one QUANTIZE
    ran on the CPU (~0.5 ms at 360x480, a thirtieth of the int8 graph). The
    input's scale 1 / zero point 0 makes the float values the pixels themselves,
    and the QUANTIZE gives the same int8 values as before, bit for bit. No-op
    unless the graph starts with such a QUANTIZE.
    """
    quantize = _uint8_input_reader(model, schema.BuiltinOperator.QUANTIZE, schema.TensorType.INT8)
    subgraph = model.subgraphs[0]
    (index,) = subgraph.inputs
    q = subgraph.tensors[index].quantization
    if quantize is None or q is None or q.scale is None or list(q.scale) != [1.0] or list(q.zeroPoint) != [0]:
        return
    dequantize = _dequantize(model, index)
    quantize.inputs = list(dequantize.outputs)
    subgraph.operators.insert(subgraph.operators.index(quantize), dequantize)


def _real_values(model: schema.ModelT, index: int) -> np.ndarray:
    """A constant int8/int32 tensor's stored values times their (per-channel) scale."""
    tensor = model.subgraphs[0].tensors[index]
    dtype = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32}[tensor.type]
    values = np.frombuffer(bytes(model.buffers[tensor.buffer].data), dtype).astype(np.float64)
    q = tensor.quantization
    return (values - np.asarray(q.zeroPoint, np.float64)) * np.asarray(q.scale, np.float64)


def _fold_uniform_normalization(model: schema.ModelT) -> None:
    """Drops an int8 graph's input normalization where it is the same for every channel.

    The graph starts uint8 pixels p (scale 1, zero point 0) -> DEQUANTIZE ->
    QUANTIZE (int8, p - 128) -> the normalization ``a * p + b`` as a 1x1
    DEPTHWISE_CONV_2D -> int8 (scale s, zero point z). With one ``a`` and one
    ``b`` for all three channels (MobileNet and Xception: a = 1/127.5, b = -1),
    the input's quantization can carry the map instead: scale a, zero point
    ``z_in = ceil(-b / a - 0.5)``, so the DEQUANTIZE gives ``a * (p - z_in)`` and
    the QUANTIZE goes straight to the depthwise op's output (scale s, zero point z).
    The depthwise op ran at the input size, 0.35 ms of a 360x480 int8 graph's
    ~14. ``-b / a`` is rarely an integer (127.5): ``z_in`` rounds the normalized
    value half up, as the int8 graph did and as QAT's input fake-quant trained it
    (at a = 1/127.5, b = -1, s = a, z = 0: the same int8 values, p - 127, bit for bit).
    Apps feed the same pixels: a uint8 input is fed as it comes, whatever its
    quantization (quantized MobileNets take scale 1/128, zero point 128). No-op
    unless the graph starts with that DEQUANTIZE/QUANTIZE pair and such an op.
    """
    subgraph = model.subgraphs[0]
    tensors, operators = subgraph.tensors, subgraph.operators
    dequantize = _uint8_input_reader(model, schema.BuiltinOperator.DEQUANTIZE, schema.TensorType.FLOAT32)
    if dequantize is None:
        return
    readers = collections.defaultdict(list)
    for op in operators:
        for t in op.inputs:
            readers[t].append(op)

    def sole_reader(index: int, builtin: int) -> schema.OperatorT | None:
        found = readers[index]
        ok = len(found) == 1 and _opcode(model, found[0]) == builtin and index not in subgraph.outputs
        return found[0] if ok else None

    quantize = sole_reader(dequantize.outputs[0], schema.BuiltinOperator.QUANTIZE)
    normalize = quantize and sole_reader(quantize.outputs[0], schema.BuiltinOperator.DEPTHWISE_CONV_2D)
    if normalize is None or len(normalize.inputs) != 3 or tensors[normalize.outputs[0]].type != schema.TensorType.INT8:
        return
    image, pixels = tensors[subgraph.inputs[0]].quantization, tensors[quantize.outputs[0]].quantization
    options = normalize.builtinOptions
    if (
        [float(image.scale[0]), int(image.zeroPoint[0])] != [1.0, 0]
        or [float(pixels.scale[0]), int(pixels.zeroPoint[0])] != [1.0, -128]
        or list(tensors[normalize.inputs[1]].shape) != [1, 1, 1, 3]
        or options.fusedActivationFunction != schema.ActivationFunctionType.NONE
        or (options.strideH, options.strideW, options.depthMultiplier) != (1, 1, 1)
    ):
        return
    weights, biases = (_real_values(model, index) for index in normalize.inputs[1:])
    a, b = weights[0], biases[0]
    if not (a > 0 and np.allclose(weights, a, rtol=1e-6, atol=0) and np.allclose(biases, b, rtol=1e-6, atol=1e-9)):
        return
    zero_point = int(np.ceil(-b / a - 0.5))
    if not 0 <= zero_point <= 255:
        return
    image.scale, image.zeroPoint = np.array([a], np.float32), np.array([zero_point], np.int64)
    quantize.outputs = list(normalize.outputs)
    operators.remove(normalize)
    _drop_unused_tensors(model)


def _drop_unused_tensors(model: schema.ModelT) -> None:
    """Removes the tensors no op, input or output refers to, and the buffers only they held."""
    subgraph = model.subgraphs[0]
    used = {t for op in subgraph.operators for t in (*op.inputs, *op.outputs) if t >= 0}
    used |= set(subgraph.inputs) | set(subgraph.outputs)
    kept = [i for i in range(len(subgraph.tensors)) if i in used]
    new_index = {old: new for new, old in enumerate(kept)}
    dropped_buffers = {subgraph.tensors[i].buffer for i in range(len(subgraph.tensors)) if i not in used}
    dropped_buffers -= {subgraph.tensors[i].buffer for i in kept} | {0}
    dropped_buffers -= {m.buffer for m in model.metadata or []}
    subgraph.tensors = [subgraph.tensors[i] for i in kept]
    for op in subgraph.operators:
        op.inputs = [new_index[t] if t >= 0 else t for t in op.inputs]
        op.outputs = [new_index[t] for t in op.outputs]
    subgraph.inputs = [new_index[t] for t in subgraph.inputs]
    subgraph.outputs = [new_index[t] for t in subgraph.outputs]
    if dropped_buffers:
        buffers = [i for i in range(len(model.buffers)) if i not in dropped_buffers]
        new_buffer = {old: new for new, old in enumerate(buffers)}
        model.buffers = [model.buffers[i] for i in buffers]
        for tensor in subgraph.tensors:
            tensor.buffer = new_buffer[tensor.buffer]
        for entry in model.metadata or []:
            entry.buffer = new_buffer[entry.buffer]


def _float_softmax(model: schema.ModelT) -> None:
    """Runs an int8 SOFTMAX that feeds a uint8 QUANTIZE in float, under XNNPACK.

    XNNPACK has no quantized softmax and does not convert int8 to uint8, so the
    pair ran on the CPU between two XNNPACK partitions (~1 ms of ~16 at 360x480).
    As DEQUANTIZE (int8 -> float32), SOFTMAX (float32) and QUANTIZE (float32 ->
    uint8, the same scale 1/256) all three run in the one partition; the uint8
    probabilities are those of the int8 kernel but for its rounding (CamVid
    360x480: identical). No-op unless the graph has that pair, the softmax's
    output used once.
    """
    subgraph = model.subgraphs[0]
    tensors, operators = subgraph.tensors, subgraph.operators
    uses = collections.Counter(t for op in operators for t in op.inputs)
    for position, softmax in enumerate(operators[:-1]):
        quantize = operators[position + 1]
        if (
            _opcode(model, softmax) != schema.BuiltinOperator.SOFTMAX
            or _opcode(model, quantize) != schema.BuiltinOperator.QUANTIZE
            or quantize.inputs != [softmax.outputs[0]]
            or uses[softmax.outputs[0]] != 1
            or tensors[softmax.inputs[0]].type != schema.TensorType.INT8
            or tensors[quantize.outputs[0]].type != schema.TensorType.UINT8
        ):
            continue
        dequantize = _dequantize(model, softmax.inputs[0])
        softmax.inputs = list(dequantize.outputs)
        probabilities = tensors[softmax.outputs[0]]  # now float32: the QUANTIZE's input
        probabilities.type, probabilities.quantization = schema.TensorType.FLOAT32, None
        operators.insert(position, dequantize)
        return


def _tensor_map(name: str, index: int) -> schema.TensorMapT:
    tensor_map = schema.TensorMapT()
    tensor_map.name, tensor_map.tensorIndex = name.encode(), int(index)
    return tensor_map


def _finish(tflite_bytes: bytes, output: str) -> bytes:
    """Makes a uint8 input's CAST or QUANTIZE run under XNNPACK, makes an int8 graph's
    uniform input normalization the input's quantization, moves a uint8 output's
    QUANTIZE before the final resize, runs an int8 softmax in float under XNNPACK,
    shortens fused tensor names, adds the signature
    "serving_default": {"image"} -> {output} and names the output tensor (a converted
    frozen function has no signature, its output is "Identity")."""
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    _dequantize_input_cast(model)
    _dequantize_input_first(model)
    _fold_uniform_normalization(model)
    _quantize_before_resize(model)
    _float_softmax(model)
    subgraph = model.subgraphs[0]
    for tensor in subgraph.tensors:
        # The converter names a fused op's output "first;second;...", every op fused
        # into it: the first (the layer whose output it is) is kept. 18 of a 257x257
        # v3's 27 KB of names, in the float and the int8 file alike.
        tensor.name = tensor.name.split(b";")[0]
    (input_index,), (output_index,) = subgraph.inputs, subgraph.outputs
    subgraph.tensors[output_index].name = output.encode()
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = b"serving_default", 0
    signature.inputs, signature.outputs = [_tensor_map("image", input_index)], [_tensor_map(output, output_index)]
    model.signatureDefs = [signature]
    return pack_model(model, len(tflite_bytes))


def convert(model: keras.Model, options: ConvertOptions) -> bytes:
    """Converts a DeepLab Keras model to a TFLite flatbuffer.

    Args:
      model: the float model from ``build_deeplab`` (or, for int8_qat, the
        model from ``quantize_model``): one input [B, H, W, 3], logits
        [B, H, W, C]. Only traced, never changed.
      options: quantization, input dtype, output kind, preprocessing, calibration.

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
    concrete = _trace(model, _serving_function(model, options, height, width))
    holder = tf.Module()  # keeps the variables the function captures alive
    holder.model_variables = list(model.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    # Freeze the function directly rather than saving it as a SavedModel and
    # converting that: same graph, 4x faster (1 s instead of 5 s for a smoke model;
    # with the Keras model as trackable object, 20 s to serialize every layer).
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
    with warnings.catch_warnings():
        # Asked of uint8 inputs by the converter's pre-MLIR checks; here the input's
        # scale comes from the fake-quant (or calibration) in the graph.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        tflite_bytes = converter.convert()
    if options.quantization.is_int8:
        _check_int8(tflite_bytes, options)
    return _finish(tflite_bytes, options.output)
