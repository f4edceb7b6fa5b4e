"""scripts/cut_tflite.py: a model cut after an operator computes what the whole model held there."""

import importlib.util
import pathlib

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "mobile" / "contract" / "models" / "smoke_float.tflite"

_spec = importlib.util.spec_from_file_location("cut_tflite", ROOT / "scripts" / "cut_tflite.py")
cut_tflite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cut_tflite)


def _run(interpreter: Interpreter, image: np.ndarray) -> None:
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()


def test_cut_model_outputs_the_intermediate_tensor_of_the_whole_model():
    data = MODEL.read_bytes()
    whole = Interpreter(model_content=data, experimental_preserve_all_tensors=True)
    detail = whole.get_input_details()[0]
    image = np.random.default_rng(0).integers(0, 256, detail["shape"]).astype(detail["dtype"])
    _run(whole, image)
    names = cut_tflite.operator_names(cut_tflite._read(str(MODEL)))
    index = names.index("DEPTHWISE_CONV_2D")
    expected = whole.get_tensor(whole._get_ops_details()[index]["outputs"][0])

    cut_bytes = cut_tflite.cut_after(data, index)
    assert cut_tflite.operator_names(cut_tflite.schema.ModelT.InitFromPackedBuf(cut_bytes, 0)) == names[: index + 1]
    cut = Interpreter(model_content=cut_bytes)
    _run(cut, image)
    np.testing.assert_allclose(cut.get_tensor(cut.get_output_details()[0]["index"]), expected, atol=1e-6)

    last = Interpreter(model_content=cut_tflite.cut_after(data, -1))
    _run(last, image)
    np.testing.assert_allclose(
        last.get_tensor(last.get_output_details()[0]["index"]),
        whole.get_tensor(whole.get_output_details()[0]["index"]),
        atol=1e-6,
    )


def test_an_index_past_the_graph_is_refused_by_name():
    data = MODEL.read_bytes()
    count = len(cut_tflite.operator_names(cut_tflite._read(str(MODEL))))
    with pytest.raises(ValueError, match=rf"--after={count} is out of range: the model has {count} operators"):
        cut_tflite.cut_after(data, count)
