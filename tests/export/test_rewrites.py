"""export.rewrites on a graph written by hand: what SubgraphView answers, and a pass run
through ``rewrite`` changing the ops but no output value (the passes on converted DeepLab
graphs: tests/export/test_tflite.py)."""

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from deeplab_tf.export.flatbuffer import pack_model
from deeplab_tf.export.inspect import ops, run_tflite
from deeplab_tf.export.rewrites import PASSES, SubgraphView, dequantize_input_cast, rewrite

Op, Type = schema.BuiltinOperator, schema.TensorType
SHAPE = (1, 16, 16, 3)  # 768 values: every pixel value 0..255, three times


def _tensor(name: str, dtype: int) -> schema.TensorT:
    tensor = schema.TensorT()
    tensor.name, tensor.type, tensor.buffer, tensor.shape = name.encode(), dtype, 0, np.array(SHAPE, np.int32)
    return tensor


def _op(code: int, inputs: list, outputs: list, options_type: int, options) -> schema.OperatorT:
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = code, inputs, outputs
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def cast_then_add() -> schema.ModelT:
    """uint8 "image" (0) -> CAST -> "x" float32 (1) -> ADD(x, x) -> "y" (2), the output."""
    codes = []
    for builtin in (Op.CAST, Op.ADD):
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, builtin, 1
        codes.append(code)
    subgraph = schema.SubGraphT()
    subgraph.tensors = [_tensor("image", Type.UINT8), _tensor("x", Type.FLOAT32), _tensor("y", Type.FLOAT32)]
    subgraph.inputs, subgraph.outputs = [0], [2]
    subgraph.operators = [
        _op(0, [0], [1], schema.BuiltinOptions.CastOptions, schema.CastOptionsT()),
        _op(1, [1, 1], [2], schema.BuiltinOptions.AddOptions, schema.AddOptionsT()),
    ]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, codes, [subgraph], [schema.BufferT()]
    return model


def test_the_view_names_producers_and_sole_readers():
    model = cast_then_add()
    view = SubgraphView(model)
    cast, add = model.subgraphs[0].operators
    assert view.producer(1) is cast and view.producer(2) is add and view.producer(0) is None
    assert [view.builtin(op) for op in (cast, add)] == [Op.CAST, Op.ADD]
    assert view.sole_reader(0) is cast and view.sole_reader(0, Op.CAST) is cast
    assert view.sole_reader(0, Op.ADD) is None
    assert view.sole_reader(1) is None  # read twice, by one op
    assert view.sole_reader(2) is None  # the graph's output
    assert view.input_reader(Op.CAST, Type.FLOAT32) is cast
    assert view.input_reader(Op.CAST, Type.INT8) is None and view.input_reader(Op.QUANTIZE, Type.FLOAT32) is None
    assert view.operator_code(Op.ADD) == 1 and view.operator_code(Op.DEQUANTIZE) == 2
    assert len(model.operatorCodes) == 3


def test_a_pass_changes_the_ops_and_no_output():
    converted = pack_model(cast_then_add())
    plain, cast = (rewrite(converted, "scores", passes) for passes in ((), (dequantize_input_cast,)))
    assert [op["op_name"] for op in ops(plain)] == ["CAST", "ADD"]
    assert [op["op_name"] for op in ops(cast)] == ["DEQUANTIZE", "ADD"]
    inputs = [Interpreter(model_content=b).get_input_details()[0] for b in (plain, cast)]
    assert [(i["dtype"], i["quantization"]) for i in inputs] == [(np.uint8, (0.0, 0)), (np.uint8, (1.0, 0))]
    pixels = np.resize(np.arange(256, dtype=np.uint8), SHAPE)
    expected = 2 * pixels.astype(np.float32)
    for tflite_bytes in (plain, cast, rewrite(converted, "scores")):  # PASSES: only the cast applies
        np.testing.assert_array_equal(run_tflite(tflite_bytes, pixels), expected)
    # The other passes leave a graph they do not recognize as it is.
    others = [edit for edit in PASSES if edit is not dequantize_input_cast]
    assert [op["op_name"] for op in ops(rewrite(converted, "scores", others))] == ["CAST", "ADD"]
