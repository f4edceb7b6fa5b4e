"""Look inside a TFLite flatbuffer with the LiteRT interpreter: ops, tensor types,
what the XNNPACK delegate takes, and a one-image run (the GPU delegate: gpu_delegate.py)."""

from __future__ import annotations

import collections

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def _interpreter(tflite_bytes: bytes, delegates: bool = False, num_threads: int = 1) -> Interpreter:
    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(model_content=tflite_bytes, num_threads=num_threads, experimental_op_resolver_type=resolver)


def ops(tflite_bytes: bytes) -> list[dict]:
    """The model's ops in execution order: ``{"index", "op_name", "inputs", "outputs"}``
    (tensor indices; -1 for an omitted optional input)."""
    return [
        {key: op[key] for key in ("index", "op_name", "inputs", "outputs")}
        for op in _interpreter(tflite_bytes)._get_ops_details()
    ]


def op_histogram(tflite_bytes: bytes) -> dict[str, int]:
    """``{op name: count}`` of the model's (undelegated) graph, e.g. ``{"CONV_2D": 38, ...}``."""
    return dict(collections.Counter(op["op_name"] for op in ops(tflite_bytes)))


def conv_dilations(tflite_bytes: bytes) -> list[tuple[str, int, int]]:
    """``(op name, dilation h, dilation w)`` of every CONV_2D and DEPTHWISE_CONV_2D
    of the first subgraph, in op order (read from the flatbuffer's op options)."""
    model = schema.Model.GetRootAs(tflite_bytes, 0)
    subgraph = model.Subgraphs(0)
    options_class = {
        schema.BuiltinOperator.CONV_2D: ("CONV_2D", schema.Conv2DOptions),
        schema.BuiltinOperator.DEPTHWISE_CONV_2D: ("DEPTHWISE_CONV_2D", schema.DepthwiseConv2DOptions),
    }
    found = []
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin in options_class:
            name, cls = options_class[builtin]
            table = op.BuiltinOptions()
            options = cls()
            options.Init(table.Bytes, table.Pos)
            found.append((name, options.DilationHFactor(), options.DilationWFactor()))
    return found


def tensor_dtypes(tflite_bytes: bytes) -> dict[int, dict]:
    """Every tensor by index: ``{"name", "dtype" (numpy name), "shape", "input", "constant"}``.

    ``input`` marks the model's inputs; ``constant`` tensors that no op
    produces and that are not an input (weights, biases, shapes, axes).
    """
    interpreter = _interpreter(tflite_bytes)
    produced = {t for op in interpreter._get_ops_details() for t in op["outputs"]}
    inputs = {detail["index"] for detail in interpreter.get_input_details()}
    return {
        detail["index"]: {
            "name": detail["name"],
            "dtype": np.dtype(detail["dtype"]).name,
            "shape": tuple(int(s) for s in detail["shape"]),
            "input": detail["index"] in inputs,
            "constant": detail["index"] not in produced and detail["index"] not in inputs,
        }
        for detail in interpreter.get_tensor_details()
    }


def delegation_report(tflite_bytes: bytes, num_threads: int = 2) -> dict:
    """What the XNNPACK delegate (LiteRT's default CPU delegate) takes.

    The interpreter is built twice: without default delegates (the model's
    own ops, nodes 0..N-1) and with them. After ``allocate_tensors`` the
    delegated interpreter lists the same N nodes followed by one DELEGATE
    node per partition; a partition's ops are those reached walking back
    from the DELEGATE node's outputs through producers until its inputs.

    Returns:
      ``{"ops": N, "delegated_ops": n, "fraction": n / N, "partitions": number
      of DELEGATE nodes, "not_delegated": {op name: count},
      "not_delegated_nodes": [(node index, op name), ...]}``.
    """
    plain = _interpreter(tflite_bytes)._get_ops_details()
    interpreter = _interpreter(tflite_bytes, delegates=True, num_threads=num_threads)
    interpreter.allocate_tensors()
    nodes = interpreter._get_ops_details()
    original, partitions = nodes[: len(plain)], nodes[len(plain) :]
    if [op["op_name"] for op in original] != [op["op_name"] for op in plain] or any(
        op["op_name"] != "DELEGATE" for op in partitions
    ):
        raise RuntimeError("unexpected node layout after delegation; cannot attribute nodes to delegates")
    producer = {t: op["index"] for op in original for t in op["outputs"]}
    delegated = set()
    for partition in partitions:
        boundary = set(partition["inputs"])
        stack = [t for t in partition["outputs"] if t not in boundary]
        while stack:
            node = producer.get(stack.pop())
            if node is None or node in delegated:
                continue
            delegated.add(node)
            stack.extend(t for t in original[node]["inputs"] if t >= 0 and t not in boundary)
    rest = [(op["index"], op["op_name"]) for op in original if op["index"] not in delegated]
    return {
        "ops": len(original),
        "delegated_ops": len(delegated),
        "fraction": len(delegated) / max(1, len(original)),
        "partitions": len(partitions),
        "not_delegated": dict(collections.Counter(name for _, name in rest)),
        "not_delegated_nodes": rest,
    }


def run_tflite(tflite_bytes: bytes, image: np.ndarray, num_threads: int = 2, delegates: bool = True) -> np.ndarray:
    """Runs the model on one image and returns its first output, as stored.

    Args:
      tflite_bytes: the model.
      image: [H, W, 3] or [1, H, W, 3], in the model input's dtype (uint8
        pixels or float32 normalized values); cast if it differs.
      num_threads: interpreter threads.
      delegates: apply LiteRT's default delegates (XNNPACK).

    Returns:
      The output array as stored (uint8 scores/mask, or float32), batch dimension kept.
    """
    interpreter = _interpreter(tflite_bytes, delegates=delegates, num_threads=num_threads)
    interpreter.allocate_tensors()
    (input_detail,) = interpreter.get_input_details()
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[None]
    interpreter.set_tensor(input_detail["index"], image.astype(input_detail["dtype"], copy=False))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()
