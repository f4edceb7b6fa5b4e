"""Edits of the converted flatbuffer: an ordered list of passes over one subgraph view.

The converter's graph is correct but leaves work where XNNPACK cannot take it
(CAST and the uint8 <-> int8 conversions it lacks, the int8 softmax) and a
normalization op that an int8 input's quantization can carry. Each pass below
is one such edit, a no-op on a graph it does not recognize, and changes no
value the graph computes (where a pass re-rounds, its docstring says how).
``rewrite`` runs ``PASSES`` in order, then names the graph for the apps.
Why each pass exists and what it saves, measured: WORKSPACE.md, "The .tflite export".
"""

from __future__ import annotations

import collections
import copy
from collections.abc import Callable, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.export.flatbuffer import builtin_code, pack_model

Op = schema.BuiltinOperator

# Ops that only move or interpolate values (weights summing to 1), so an affine
# requantization commutes with them: int8 -> uint8 at the same scale adds 128.
_SHIFT_COMMUTING_OPS = {Op.RESIZE_BILINEAR, Op.STRIDED_SLICE}


class SubgraphView:
    """A model's (one) subgraph with who produces and who reads each tensor.

    The answers describe the graph as it was when the view was built: a pass asks
    before it edits (each pass makes at most one edit, then returns), and
    ``rewrite`` builds a new view for the next pass.

    Attributes:
      model: the whole model (operator codes, buffers, metadata).
      subgraph: ``model.subgraphs[0]``; ``tensors`` its tensors.
    """

    def __init__(self, model: schema.ModelT):
        self.model = model
        self.subgraph = model.subgraphs[0]
        self.tensors = self.subgraph.tensors
        self._producer = {t: op for op in self.subgraph.operators for t in op.outputs}
        self._readers = collections.defaultdict(list)  # one entry per input slot that reads the tensor
        for op in self.subgraph.operators:
            for t in op.inputs:
                self._readers[t].append(op)

    def producer(self, index: int) -> schema.OperatorT | None:
        """The op that writes tensor ``index``; None for a graph input or a constant."""
        return self._producer.get(index)

    def sole_reader(self, index: int, builtin: int | None = None) -> schema.OperatorT | None:
        """The one op that reads tensor ``index`` (once), if the graph does not also output
        it and (given ``builtin``) the op is one; else None. A pass changes a tensor's type,
        quantization or reader only where it has a sole reader: nothing else sees the change."""
        found = self._readers[index]
        if len(found) != 1 or index in self.subgraph.outputs:
            return None
        return found[0] if builtin is None or self.builtin(found[0]) == builtin else None

    def input_reader(self, builtin: int, output_type: int) -> schema.OperatorT | None:
        """The sole reader of the graph's uint8 input, if it is a ``builtin`` with an
        ``output_type`` output; else None."""
        (index,) = self.subgraph.inputs
        reader = self.sole_reader(index, builtin)
        if self.tensors[index].type != schema.TensorType.UINT8 or reader is None:
            return None
        return reader if self.tensors[reader.outputs[0]].type == output_type else None

    def builtin(self, op: schema.OperatorT) -> int:
        """``op``'s ``BuiltinOperator`` value."""
        return builtin_code(self.model.operatorCodes[op.opcodeIndex])

    def operator_code(self, builtin: int) -> int:
        """The index of ``builtin``'s operator code in the model, added if missing."""
        for index, code in enumerate(self.model.operatorCodes):
            if builtin_code(code) == builtin:
                return index
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    def dequantize(self, index: int) -> schema.OperatorT:
        """A DEQUANTIZE of tensor ``index`` into a new float32 tensor of its shape
        ("<name>_float"); the caller points a reader at it and places the op."""
        source, floats = self.tensors[index], schema.TensorT()
        floats.name, floats.type, floats.buffer = source.name + b"_float", schema.TensorType.FLOAT32, 0
        floats.shape = np.array(source.shape)
        floats.shapeSignature = None if source.shapeSignature is None else np.array(source.shapeSignature)
        self.tensors.append(floats)
        dequantize = schema.OperatorT()
        dequantize.opcodeIndex = self.operator_code(Op.DEQUANTIZE)
        dequantize.inputs, dequantize.outputs = [index], [len(self.tensors) - 1]
        return dequantize

    def real_values(self, index: int) -> np.ndarray:
        """A constant int8/int32 tensor's stored values times their (per-channel) scale."""
        tensor = self.tensors[index]
        dtype = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32}[tensor.type]
        values = np.frombuffer(bytes(self.model.buffers[tensor.buffer].data), dtype).astype(np.float64)
        q = tensor.quantization
        return (values - np.asarray(q.zeroPoint, np.float64)) * np.asarray(q.scale, np.float64)

    def drop_unused_tensors(self) -> None:
        """Removes the tensors no op, input or output refers to, and the buffers only they held."""
        model, subgraph = self.model, self.subgraph
        used = {t for op in subgraph.operators for t in (*op.inputs, *op.outputs) if t >= 0}
        used |= set(subgraph.inputs) | set(subgraph.outputs)
        kept = [i for i in range(len(subgraph.tensors)) if i in used]
        new_index = {old: new for new, old in enumerate(kept)}
        dropped_buffers = {subgraph.tensors[i].buffer for i in range(len(subgraph.tensors)) if i not in used}
        dropped_buffers -= {subgraph.tensors[i].buffer for i in kept} | {0}
        dropped_buffers -= {m.buffer for m in model.metadata or []}
        subgraph.tensors = self.tensors = [subgraph.tensors[i] for i in kept]
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


def _scale_and_zero_point(tensor: schema.TensorT) -> tuple[list, list] | None:
    q = tensor.quantization
    return (list(q.scale), list(q.zeroPoint)) if q is not None and q.scale is not None else None


# --- the passes, in the order PASSES runs them ------------------------------------------


def dequantize_input_cast(view: SubgraphView) -> None:
    """A float graph's uint8 input CAST (uint8 -> float32) becomes a DEQUANTIZE of the
    input at scale 1, zero point 0: the same values, and XNNPACK runs it (not the CAST).

    The input's quantization is then what an int8 file's uint8 input has; apps feed
    the same pixels. No-op unless the graph starts with such a CAST.
    """
    cast = view.input_reader(Op.CAST, schema.TensorType.FLOAT32)
    if cast is None:
        return
    tensor = view.tensors[view.subgraph.inputs[0]]
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale = np.array([1.0], np.float32)
    tensor.quantization.zeroPoint = np.array([0], np.int64)
    cast.opcodeIndex = view.operator_code(Op.DEQUANTIZE)
    cast.builtinOptionsType, cast.builtinOptions = schema.BuiltinOptions.NONE, None


def dequantize_input_first(view: SubgraphView) -> None:
    """The uint8 -> int8 input QUANTIZE becomes DEQUANTIZE (uint8 -> float32) then
    QUANTIZE (float32 -> int8), both of which XNNPACK runs (it converts only between
    same-signed 8-bit types).

    The input's scale 1 / zero point 0 makes the float values the pixels themselves,
    so the QUANTIZE gives the int8 values it gave before, bit for bit. No-op unless
    the graph starts with such a QUANTIZE.
    """
    quantize = view.input_reader(Op.QUANTIZE, schema.TensorType.INT8)
    (index,) = view.subgraph.inputs
    if quantize is None or _scale_and_zero_point(view.tensors[index]) != ([1.0], [0]):
        return
    dequantize = view.dequantize(index)
    quantize.inputs = list(dequantize.outputs)
    operators = view.subgraph.operators
    operators.insert(operators.index(quantize), dequantize)


def fold_uniform_normalization(view: SubgraphView) -> None:
    """An int8 graph's input normalization, where it is the same for every channel,
    becomes the uint8 input's quantization, and its op goes.

    The graph starts uint8 pixels p (scale 1, zero point 0) -> DEQUANTIZE ->
    QUANTIZE (int8, p - 128) -> the normalization ``a * p + b`` as a 1x1
    DEPTHWISE_CONV_2D -> int8 (scale s, zero point z). With one ``a`` and one
    ``b`` for all three channels (MobileNet and Xception: a = 1/127.5, b = -1),
    the input's quantization carries the map instead: scale a, zero point
    ``z_in = ceil(-b / a - 0.5)``, so the DEQUANTIZE gives ``a * (p - z_in)`` and
    the QUANTIZE goes straight to the depthwise op's output (scale s, zero point z).
    ``-b / a`` is rarely an integer (127.5): ``z_in`` rounds the normalized value
    half up, as the int8 graph did and as QAT's input fake-quant trained it (at
    a = 1/127.5, b = -1, s = a, z = 0: the same int8 values, p - 127, bit for bit).
    Apps feed the same pixels: a uint8 input is fed as it comes, whatever its
    quantization. The op's tensors and the buffers only they held go with it.
    No-op unless the graph starts with that DEQUANTIZE/QUANTIZE pair and such an op.
    """
    tensors = view.tensors
    dequantize = view.input_reader(Op.DEQUANTIZE, schema.TensorType.FLOAT32)
    quantize = dequantize and view.sole_reader(dequantize.outputs[0], Op.QUANTIZE)
    normalize = quantize and view.sole_reader(quantize.outputs[0], Op.DEPTHWISE_CONV_2D)
    if normalize is None or len(normalize.inputs) != 3 or tensors[normalize.outputs[0]].type != schema.TensorType.INT8:
        return
    image, pixels = tensors[view.subgraph.inputs[0]].quantization, tensors[quantize.outputs[0]].quantization
    options = normalize.builtinOptions
    if (
        [float(image.scale[0]), int(image.zeroPoint[0])] != [1.0, 0]
        or [float(pixels.scale[0]), int(pixels.zeroPoint[0])] != [1.0, -128]
        or list(tensors[normalize.inputs[1]].shape) != [1, 1, 1, 3]
        or options.fusedActivationFunction != schema.ActivationFunctionType.NONE
        or (options.strideH, options.strideW, options.depthMultiplier) != (1, 1, 1)
    ):
        return
    weights, biases = (view.real_values(index) for index in normalize.inputs[1:])
    a, b = weights[0], biases[0]
    if not (a > 0 and np.allclose(weights, a, rtol=1e-6, atol=0) and np.allclose(biases, b, rtol=1e-6, atol=1e-9)):
        return
    zero_point = int(np.ceil(-b / a - 0.5))
    if not 0 <= zero_point <= 255:
        return
    image.scale, image.zeroPoint = np.array([a], np.float32), np.array([zero_point], np.int64)
    quantize.outputs = list(normalize.outputs)
    view.subgraph.operators.remove(normalize)
    view.drop_unused_tensors()


def quantize_before_resize(view: SubgraphView) -> None:
    """The output's int8 -> uint8 QUANTIZE moves before the final resize (and crop),
    so that XNNPACK runs the resize in uint8 and converts fewer values.

    Both resize kernels interpolate in integers with weights summing to a power
    of two, so the uint8 result is the int8 one + 128, bit for bit. No-op unless
    the graph ends QUANTIZE(int8 -> uint8, same scale, zero point + 128) after a
    chain of ``_SHIFT_COMMUTING_OPS`` at that scale and zero point, each tensor
    read once.
    """
    tensors = view.tensors
    (output,) = view.subgraph.outputs
    quantize = view.producer(output)
    if quantize is None or view.builtin(quantize) != Op.QUANTIZE:
        return
    src, dst = tensors[quantize.inputs[0]], tensors[output]
    if src.type != schema.TensorType.INT8 or dst.type != schema.TensorType.UINT8:
        return
    (scale,), (zero_point,) = _scale_and_zero_point(src)
    if _scale_and_zero_point(dst) != ([scale], [zero_point + 128]):
        return
    chain, index = [], quantize.inputs[0]
    while view.sole_reader(index) is not None:
        producer = view.producer(index)
        if producer is None or view.builtin(producer) not in _SHIFT_COMMUTING_OPS:
            break
        chain.append(producer)
        index = producer.inputs[0]
        if _scale_and_zero_point(tensors[index]) != ([scale], [zero_point]):
            return
    if not chain or view.sole_reader(index) is None:
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
    operators = [op for op in view.subgraph.operators if op is not quantize]
    operators.insert(operators.index(chain[-1]), quantize)
    view.subgraph.operators = operators


def float_softmax(view: SubgraphView) -> None:
    """An int8 SOFTMAX read only by a uint8 QUANTIZE runs in float: DEQUANTIZE
    (int8 -> float32), SOFTMAX (float32), QUANTIZE (float32 -> uint8, the same
    scale 1/256), all of which XNNPACK runs (it has no quantized softmax and does
    not convert int8 to uint8).

    The uint8 probabilities are the int8 kernel's but for its rounding. Runs after
    ``quantize_before_resize``, which makes the QUANTIZE the softmax's reader.
    No-op unless the graph has such a pair (the first one is rewritten).
    """
    tensors, operators = view.tensors, view.subgraph.operators
    for softmax in operators:
        quantize = view.sole_reader(softmax.outputs[0], Op.QUANTIZE) if view.builtin(softmax) == Op.SOFTMAX else None
        if (
            quantize is None
            or tensors[softmax.inputs[0]].type != schema.TensorType.INT8
            or tensors[quantize.outputs[0]].type != schema.TensorType.UINT8
        ):
            continue
        dequantize = view.dequantize(softmax.inputs[0])
        softmax.inputs = list(dequantize.outputs)
        probabilities = tensors[softmax.outputs[0]]  # now float32: the QUANTIZE's input
        probabilities.type, probabilities.quantization = schema.TensorType.FLOAT32, None
        operators.insert(operators.index(softmax), dequantize)
        return


Pass = Callable[[SubgraphView], None]

# In this order: each input pass sees the graph the one before left (a CAST becomes the
# DEQUANTIZE that the fold then recognizes), and the softmax pass finds its QUANTIZE
# only once the output QUANTIZE has moved before the resize.
PASSES: tuple[Pass, ...] = (
    dequantize_input_cast,
    dequantize_input_first,
    fold_uniform_normalization,
    quantize_before_resize,
    float_softmax,
)


def _tensor_map(name: str, index: int) -> schema.TensorMapT:
    tensor_map = schema.TensorMapT()
    tensor_map.name, tensor_map.tensorIndex = name.encode(), int(index)
    return tensor_map


def rewrite(tflite_bytes: bytes, output: str, passes: Sequence[Pass] = PASSES) -> bytes:
    """``tflite_bytes`` from the converter, edited by ``passes`` in order (each on a fresh
    ``SubgraphView``) and named for the apps.

    Args:
      tflite_bytes: the converter's single-subgraph model.
      output: the output's name, "scores" or "mask".
      passes: the passes to run, in order; default ``PASSES``.

    Returns:
      The model with each fused tensor name shortened to its first part, the output
      tensor named ``output`` (a converted frozen function's is "Identity") and the
      signature "serving_default": {"image"} -> {output} (it has none).
    """
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    for edit in passes:
        edit(SubgraphView(model))
    subgraph = model.subgraphs[0]
    for tensor in subgraph.tensors:
        # The converter names a fused op's output "first;second;...", every op fused
        # into it: the first (the layer whose output it is) is kept.
        tensor.name = tensor.name.split(b";")[0]
    (input_index,), (output_index,) = subgraph.inputs, subgraph.outputs
    subgraph.tensors[output_index].name = output.encode()
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = b"serving_default", 0
    signature.inputs, signature.outputs = [_tensor_map("image", input_index)], [_tensor_map(output, output_index)]
    model.signatureDefs = [signature]
    return pack_model(model, len(tflite_bytes))
