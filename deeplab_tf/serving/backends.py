"""Models behind one interface: a SavedModel from ``deeplab-export --format=saved_model``
or a ``.tflite`` export (with its model card), each a ``Backend``.

A ``Backend`` runs a batch ``[B, H, W, 3]`` of model-size images (uint8 pixels or
normalized float32, as the model takes them) and returns its one output
(``mask`` [B, H, W] uint8 ids or ``scores`` [B, H, W, C]).

Model paths (``load_models``): a ``.tflite`` file, a SavedModel folder (holds
``saved_model.pb``), a TF Serving model folder ``NAME/VERSION/`` (the highest
numeric VERSION is served), or a folder of several of these, each under its name.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from deeplab_tf.artifacts.errors import ArgumentFileNotFoundError
from deeplab_tf.evaluation.report import fallback_palette
from deeplab_tf.evaluation.tflite import describe_tflite

SIGNATURE = "serving_default"


@dataclasses.dataclass
class TensorInfo:
    """One named tensor of the signature: dtype name ("uint8", "float32") and shape (-1 = any)."""

    name: str
    dtype: str
    shape: list[int]


class Backend:
    """One served model. Subclasses set the fields and implement ``run``.

    Attributes:
      name, version: as served (``/v1/models/NAME``, version an integer).
      input, output: the signature's one input and one output.
      class_names, colors: per class id (from the model card, else ``class_i`` and a palette).
      mean, std: the pixel-space normalization a float32 input takes (None: unknown,
        a SavedModel without a card; a uint8 input has it inside).
    """

    kind = "base"
    name: str
    version: int
    input: TensorInfo
    output: TensorInfo
    class_names: list[str]
    colors: list
    mean: np.ndarray | None
    std: np.ndarray | None
    quantization: dict | None = None  # of a quantized scores output

    @property
    def size(self) -> tuple[int, int]:
        return self.input.shape[1], self.input.shape[2]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``[B, H, W, 3]`` of the input dtype -> the output ``[B, ...]``."""
        raise NotImplementedError

    def warm_up(self, max_batch_size: int = 1) -> None:
        """Runs on zeros, so the first requests do not pay for tracing."""
        self.run(np.zeros((1, *self.size, 3), self.input.dtype))


def _classes(names: list[str] | None, colors: list | None, count: int | None) -> tuple[list[str], list]:
    count = len(names) if names else (count or 256)
    names = names or [f"class_{i}" for i in range(count)]
    return names, colors or [tuple(int(c) for c in color) for color in fallback_palette(count)]


class SavedModelBackend(Backend):
    """A SavedModel's ``serving_default``: ``image`` [B, H, W, 3] -> ``mask`` or ``scores``
    (``export.serving_module``), batch dimension dynamic."""

    kind = "saved_model"

    def __init__(self, path: str, name: str, version: int):
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        if SIGNATURE not in loaded.signatures:
            raise ValueError(f"SavedModel {path} has no {SIGNATURE!r} signature (it has {list(loaded.signatures)})")
        self._loaded = loaded  # keeps the variables alive
        self._fn = loaded.signatures[SIGNATURE]
        _, inputs = self._fn.structured_input_signature
        outputs = self._fn.structured_outputs
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"SavedModel {path}: one input and one output expected, got {list(inputs)} -> {list(outputs)}"
            )
        (input_name, spec), (output_name, out_spec) = next(iter(inputs.items())), next(iter(outputs.items()))
        shape = [-1 if d is None else int(d) for d in spec.shape]
        if len(shape) != 4 or shape[3] != 3 or -1 in shape[1:]:
            raise ValueError(f"SavedModel {path}: input {input_name} must be [B, H, W, 3], got {shape}")
        self.name, self.version = name, version
        self.input = TensorInfo(input_name, spec.dtype.name, shape)
        self.output = TensorInfo(
            output_name, out_spec.dtype.name, [-1 if d is None else int(d) for d in out_spec.shape]
        )
        count = self.output.shape[3] if output_name == "scores" else None
        self.class_names, self.colors = _classes(None, None, count)
        self.mean = self.std = None
        self._tf = tf

    def run(self, batch: np.ndarray) -> np.ndarray:
        result = self._fn(**{self.input.name: self._tf.constant(batch, self.input.dtype)})
        return result[self.output.name].numpy()


class TFLiteBackend(Backend):
    """A .tflite export run in the LiteRT interpreter (XNNPACK, ``threads`` threads);
    class names, colours and normalization from its model card."""

    kind = "tflite"

    def __init__(self, path: str, name: str, version: int, threads: int = 1):
        described = describe_tflite(path)
        contract, card = described["contract"], described["card"]
        self._bytes, self._threads = described["tflite_bytes"], threads
        self._interpreter = self._new_interpreter(1)
        (self._in,), (self._out,) = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        self._batched: dict[int, object | None] = {}  # power of two -> interpreter resized to it (None: not possible)
        source, result = contract["input"], contract["output"]
        self.name, self.version = name, version
        self.input = TensorInfo("image", source["dtype"], [-1, source["height"], source["width"], 3])
        self.output = TensorInfo(result["kind"], result["dtype"], [-1, *result["shape"][1:]])
        self.quantization = result["quantization"] if result["kind"] == "scores" else None
        colors = [tuple(entry["color"]) for entry in card["classes"]] if card else None
        self.class_names, self.colors = _classes(described["class_names"], colors, None)
        self.mean = np.asarray(described["preprocessing"].mean, np.float32)
        self.std = np.asarray(described["preprocessing"].std, np.float32)

    def _new_interpreter(self, batch: int):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interpreter = Interpreter(
            model_content=self._bytes, num_threads=self._threads, experimental_op_resolver_type=OpResolverType.AUTO
        )
        if batch > 1:
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, [batch, *interpreter.get_input_details()[0]["shape"][1:]])
        interpreter.allocate_tensors()
        return interpreter

    def warm_up(self, max_batch_size: int = 1) -> None:
        """Prepares an interpreter resized to each power of two up to ``max_batch_size``,
        kept when its output on random pixels equals one image at a time (else that
        size runs one image at a time); done at start-up, so serving never pays for it."""
        rng = np.random.default_rng(0)
        size = 2
        while size <= max_batch_size:
            batch = rng.integers(0, 256, (size, *self.size, 3)).astype(self.input.dtype)
            try:
                interpreter = self._new_interpreter(size)
                same = np.allclose(
                    self._invoke(interpreter, batch).astype(np.float32), self._run_each(batch), atol=self._tolerance()
                )
            except (RuntimeError, ValueError):
                interpreter, same = None, False
            self._batched[size] = interpreter if same else None
            size *= 2
        self._run_each(np.zeros((1, *self.size, 3), self.input.dtype))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The batch in power-of-two chunks (7 = 4 + 2 + 1), each one invocation of the
        interpreter prepared for its size (``warm_up``), or one image at a time."""
        outputs, start = [], 0
        while start < len(batch):
            size = 1 << (len(batch) - start).bit_length() - 1
            chunk = batch[start : start + size]
            interpreter = self._batched.get(size)
            outputs.append(self._run_each(chunk) if interpreter is None else self._invoke(interpreter, chunk))
            start += size
        return np.concatenate(outputs)

    def _tolerance(self) -> float:
        """Batched against one at a time: mask ids exactly, quantized scores within one step."""
        if self.output.name == "mask":
            return 0.0
        return 1.0 if self.output.dtype in ("int8", "uint8") else 1e-4

    def _invoke(self, interpreter, batch: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(
            interpreter.get_input_details()[0]["index"], np.ascontiguousarray(batch, self.input.dtype)
        )
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()

    def _run_each(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        for image in batch:
            self._interpreter.set_tensor(self._in["index"], np.ascontiguousarray(image[None], self.input.dtype))
            self._interpreter.invoke()
            outputs.append(self._interpreter.get_tensor(self._out["index"])[0].copy())
        return np.stack(outputs)


def _tensor_info(info: TensorInfo, name: str):
    from tensorflow.core.framework import tensor_shape_pb2, types_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in info.shape])
    dtype = (
        types_pb2.DT_UINT8
        if info.dtype == "uint8"
        else types_pb2.DT_INT8
        if info.dtype == "int8"
        else types_pb2.DT_FLOAT
    )
    return meta_graph_pb2.TensorInfo(name=name, dtype=dtype, tensor_shape=shape)


def signature_def(model: Backend):
    """The model's ``serving_default`` as a ``SignatureDef`` proto (gRPC GetModelMetadata; REST
    metadata prints it as JSON). Tensor names are those ``saved_model_cli show`` lists for an export."""
    from tensorflow.core.protobuf import meta_graph_pb2

    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    signature.inputs[model.input.name].CopyFrom(_tensor_info(model.input, f"{SIGNATURE}_{model.input.name}:0"))
    signature.outputs[model.output.name].CopyFrom(_tensor_info(model.output, "StatefulPartitionedCall:0"))
    return signature


def _is_saved_model(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def _versions(path: str) -> list[int]:
    return sorted(
        int(entry) for entry in os.listdir(path) if entry.isdigit() and _is_saved_model(os.path.join(path, entry))
    )


def _load_one(path: str, name: str, threads: int) -> Backend | None:
    if path.endswith(".tflite") and os.path.isfile(path):
        return TFLiteBackend(path, name, 1, threads)
    if os.path.isdir(path) and _is_saved_model(path):
        return SavedModelBackend(path, name, 1)
    if os.path.isdir(path) and _versions(path):
        version = _versions(path)[-1]
        return SavedModelBackend(os.path.join(path, str(version)), name, version)
    return None


def load_models(path: str, name: str | None = None, threads: int = 1) -> dict[str, Backend]:
    """The models of ``path`` by name (see the module docstring).

    Args:
      path: a .tflite, a SavedModel, a ``NAME/VERSION`` folder, or a folder of these.
      name: the name of a single model; default its file or folder name.
      threads: LiteRT interpreter threads of a .tflite.

    Raises:
      FileNotFoundError: no such path, or a folder holding no model.
      ValueError: a model that is not one image in and one output out.
    """
    if not os.path.exists(path):
        raise ArgumentFileNotFoundError(f"`path`={path} does not exist")
    path = os.path.normpath(path)
    single = _load_one(path, name or os.path.basename(path).removesuffix(".tflite"), threads)
    if single is not None:
        return {single.name: single}
    models = {}
    if os.path.isdir(path):
        for entry in sorted(os.listdir(path)):
            model = _load_one(os.path.join(path, entry), entry.removesuffix(".tflite"), threads)
            if model is not None:
                models[model.name] = model
    if not models:
        raise ArgumentFileNotFoundError(
            f"`path`={path} holds no model: expected a .tflite, a SavedModel folder (saved_model.pb), "
            "NAME/VERSION/saved_model.pb, or a folder of these"
        )
    return models
