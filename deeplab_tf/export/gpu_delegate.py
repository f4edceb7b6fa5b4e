"""Which ops of a .tflite graph the LiteRT GPU delegate would run, checked offline.

No GPU is needed: each op is checked against the delegate's op list and the
conditions its parsers put on options, tensor types and shapes, as read in
LiteRT's ``tflite/delegates/gpu/common/model_builder.cc`` (``NewOperationParser``,
``GetOpsToReplace``) and ``tflite/tools/versioning/gpu_compatibility.cc``
(``CheckGpuDelegateCompatibility``), and in the op table of the TFLite GPU delegate
guide (https://www.tensorflow.org/lite/performance/gpu: "DEPTHWISE_CONV_2D v1-2",
"RESIZE_BILINEAR v1-3"). Where delegates of different ages disagree the older,
stricter condition is kept (MEAN over height and width only). TensorFlow's own
``tf.lite.experimental.Analyzer.analyze(gpu_compatibility=True)`` cannot stand in:
in TF 2.21 it calls graphs with ARG_MAX or GATHER_ND "compatible".

The delegate runs its largest run of supported ops; ops it leaves at the ends of the
graph run on the CPU around it (``at_ends`` below). The project's float exports give
it everything but, for a mask output, the fused ARG_MAX and its CAST to uint8 (a
uint8 input's DEQUANTIZE, at scale 1, is taken with quantized models enabled).
"""

from __future__ import annotations

import collections

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from deeplab_tf.export.flatbuffer import operator_name

# Builtin ops that the GPU delegate parses (LiteRT model_builder.cc, NewOperationParser).
# DEQUANTIZE and QUANTIZE only with quantized models enabled, the default of
# TfLiteGpuDelegateOptionsV2; a DEQUANTIZE of constant float16 weights (fp16 exports)
# is folded into the weights. Not here, so on the CPU: ARG_MAX, ARG_MIN, GATHER_ND,
# SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, EXPAND_DIMS, SQUEEZE, SHAPE, ...
GPU_DELEGATE_OPS = frozenset(
    """ABS ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS CUMSUM DENSIFY
    DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV ELU EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED
    GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGISTIC LSTM
    MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2 POW PRELU QUANTIZE
    REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR
    RSQRT SELECT SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE
    STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV UNPACK""".split()
)
# Highest op version the guide lists for float models (quantized ones may use higher), for
# the ops our graphs use above v1: DEPTHWISE_CONV_2D v2 = dilation, RESIZE_BILINEAR v3 =
# half-pixel centers. Current delegates check no versions; older ones did.
GPU_DELEGATE_MAX_VERSIONS = {"DEPTHWISE_CONV_2D": 2, "RESIZE_BILINEAR": 3}

_FLOAT = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16}
_INT8 = {schema.TensorType.INT8, schema.TensorType.UINT8}
# CAST cases the delegate has: bool <-> float, and between float32 and int32.
_CASTS = {(schema.TensorType.BOOL, t) for t in _FLOAT} | {(t, schema.TensorType.BOOL) for t in _FLOAT}
_F32_I32 = (schema.TensorType.FLOAT32, schema.TensorType.INT32)
_CASTS |= {(a, b) for a in _F32_I32 for b in _F32_I32}
_TWO_OPERAND = {"DIV", "SUB", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV", "FLOOR_MOD"}
_TYPE_NAMES = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}


def _op_problem(name, version, options, inputs, outputs, quantized_model) -> str | None:
    """Why the delegate would not take this op, or None. ``inputs``/``outputs``:
    ``(type, shape, constant value or None if computed, has a quantization scale)``
    per tensor (None if omitted)."""
    if name not in GPU_DELEGATE_OPS:
        return "not an op of the GPU delegate"
    if not quantized_model and version > GPU_DELEGATE_MAX_VERSIONS.get(name, version):
        return f"version {version} (the GPU delegate lists v1-{GPU_DELEGATE_MAX_VERSIONS[name]})"
    present = [t for t in inputs if t is not None]
    runtime = [t for t in present if t[2] is None]
    if any(len(t[1]) > 4 for t in present + outputs):
        return "a tensor of rank > 4"
    if name == "DEQUANTIZE":
        fp16_weights = present[0][0] == schema.TensorType.FLOAT16 and present[0][2] is not None
        return None if fp16_weights or quantized_model else "DEQUANTIZE of an integer tensor in a float model"
    if name == "CAST":
        pair = (present[0][0], outputs[0][0])
        return None if pair in _CASTS else "{} -> {} is not among its casts".format(*(_TYPE_NAMES[t] for t in pair))
    allowed = _FLOAT | (_INT8 if quantized_model else set())
    # 8-bit tensors only with a scale: the delegate dequantizes them; raw ids or pixels it cannot.
    bad = sorted({_TYPE_NAMES[t[0]] for t in runtime + outputs if t[0] not in allowed or t[0] in _INT8 and not t[3]})
    if bad:
        return f"{'/'.join(bad)} tensors (the delegate computes in float)"
    activation = getattr(options, "fusedActivationFunction", 0)
    if activation == schema.ActivationFunctionType.SIGN_BIT:
        return "fused SIGN_BIT activation"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        if min(options.strideH, options.strideW, options.dilationHFactor, options.dilationWFactor) < 1:
            return "stride or dilation < 1"
        if name == "DEPTHWISE_CONV_2D" and options.depthMultiplier != 1 and present[0][1][-1] != 1:
            return "depth multiplier != 1 on more than one input channel"
    if name == "RESIZE_BILINEAR" and options.alignCorners and options.halfPixelCenters:
        return "align_corners together with half_pixel_centers"
    if name == "SOFTMAX" and options.beta != 1.0:
        return f"softmax beta {options.beta} != 1"
    if name == "MEAN":
        axes = present[1][2]
        if len(runtime) != 1 or axes is None or present[1][0] != schema.TensorType.INT32:
            return "MEAN needs one computed input and constant int32 axes"
        rank = len(present[0][1])
        if rank != 4 or not {int(a) % rank for a in np.ravel(axes)} <= {1, 2}:
            return f"MEAN over axes {np.ravel(axes).tolist()} (the delegate reduces height and width)"
    if name in ("PAD", "PADV2", "MIRROR_PAD"):
        paddings = present[1][1]
        if len(runtime) != 1 or len(paddings) != 2 or paddings[0] not in (3, 4) or paddings[1] != 2:
            return f"padding of shape {list(paddings)} (needs one computed input and 3x2 or 4x2 paddings)"
    if name == "STRIDED_SLICE":
        if options.ellipsisMask or options.newAxisMask or options.shrinkAxisMask:
            return "STRIDED_SLICE with an ellipsis, new-axis or shrink-axis mask"
    if name in ("STRIDED_SLICE", "SLICE") and len(present[0][1]) not in (3, 4):
        return f"{name} of a rank-{len(present[0][1])} tensor (3 or 4 only)"
    if name in ("ADD", "MUL") and len(present) != 2:
        return f"{name} of {len(present)} inputs"
    if name in _TWO_OPERAND and not (len(present) == 2 and 1 <= len(runtime)):
        return f"{name} needs two operands, at most one constant"
    if name in ("RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TRANSPOSE") and len(runtime) != 1:
        return f"{name} with {len(runtime)} computed inputs"
    return None


def _has_scale(tensor: schema.TensorT) -> bool:
    return tensor.quantization is not None and tensor.quantization.scale is not None


def gpu_delegate_report(tflite_bytes: bytes) -> dict:
    """Checks every op of the first subgraph against the GPU delegate's conditions.

    Args:
      tflite_bytes: the model. A graph with int8/uint8 tensors is judged as a
        quantized model (the delegate then takes QUANTIZE/DEQUANTIZE and 8-bit tensors).

    Returns:
      ``{"ops": N, "supported_ops": n, "unsupported": {"OP: reason": count}, "unsupported_nodes":
      [(node index, op name, reason), ...], "at_ends": True if every unsupported op lies
      between the graph input and the first supported op or after the last (the delegate
      then runs all the rest as one partition)}``.
    """
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    subgraph = model.subgraphs[0]
    operators = subgraph.operators or []
    produced = {t for op in operators for t in _indices(op.outputs)}
    graph_inputs = set(_indices(subgraph.inputs))

    def spec(index):
        if index < 0:
            return None
        tensor = subgraph.tensors[index]
        shape = tuple(int(s) for s in (tensor.shape if tensor.shape is not None else []))
        value = None
        if index not in produced and index not in graph_inputs:
            data = model.buffers[tensor.buffer].data
            raw = np.asarray(data if data is not None else [], np.uint8).tobytes()
            value = np.frombuffer(raw, np.int32) if tensor.type == schema.TensorType.INT32 else raw
        return tensor.type, shape, value, _has_scale(tensor)

    # Quantized: 8-bit tensors with a scale (a float model's raw uint8 input has none).
    quantized_model = any(t.type in _INT8 and _has_scale(t) for t in subgraph.tensors)
    unsupported = []
    for i, op in enumerate(operators):
        code = model.operatorCodes[op.opcodeIndex]
        name = operator_name(model, op)
        inputs = [spec(int(i)) for i in (op.inputs if op.inputs is not None else [])]
        outputs = [spec(i) for i in _indices(op.outputs)]
        problem = _op_problem(name, code.version, op.builtinOptions, inputs, outputs, quantized_model)
        if problem:
            unsupported.append((i, name, problem))
    return {
        "ops": len(operators),
        "supported_ops": len(operators) - len(unsupported),
        "unsupported": dict(collections.Counter(f"{name}: {problem}" for _, name, problem in unsupported)),
        "unsupported_nodes": unsupported,
        "at_ends": _at_ends(operators, {i for i, _, _ in unsupported}, graph_inputs),
    }


def _at_ends(operators: list, unsupported: set, graph_inputs: set) -> bool:
    """True if every unsupported op is in the head (fed only by graph inputs, constants
    and other head ops) or in the tail (read only by other tail ops, or a graph output)."""
    produced = {t for op in operators for t in _indices(op.outputs)}
    head_tensors, head = set(graph_inputs), set()
    for i, op in enumerate(operators):
        computed = {t for t in _indices(op.inputs) if t in produced or t in graph_inputs}
        if i in unsupported and computed <= head_tensors:
            head.add(i)
            head_tensors |= set(_indices(op.outputs))
    readers = collections.defaultdict(set)
    for i, op in enumerate(operators):
        for t in _indices(op.inputs):
            readers[t].add(i)
    tail = set()
    for i in reversed(range(len(operators))):
        if i in unsupported and i not in head and all(readers[t] <= tail for t in _indices(operators[i].outputs)):
            tail.add(i)
    return unsupported <= head | tail


def _indices(array) -> list[int]:
    return [int(t) for t in (array if array is not None else []) if t >= 0]
