"""The model card: the JSON beside each .tflite that the mobile apps read.

``<stem>.json`` describes ``<stem>.tflite`` and ``<stem>_labels.txt``::

    {"format": "deeplab_tf.model_card/1", "name", "version", "experiment", "description",
     "model_file": "<stem>.tflite", "labels_file": "<stem>_labels.txt",
     "input": {"height", "width", "channels": 3, "color": "RGB", "dtype": "uint8"|"float32",
               "layout": "NHWC", "normalization": {"mean": [3], "std": [3]},
               "quantization": {"scale", "zero_point"} | null, "resize": "stretch"},
     "output": {"kind": "scores"|"mask", "dtype", "shape": [1, H, W, C] | [1, H, W],
                "quantization": {"scale", "zero_point"} | null},
     "classes": [{"id", "name", "color": [r, g, b]}, ...], "ignore_label": int | null,
     "quantization": "none"|"fp16"|"dynamic"|"int8_ptq"|"int8_qat",
     "metrics": {"dataset", "split", "miou", "per_class_iou": {name: iou}} | null,
     "latency_ms": {"threads", "xnnpack_median"} | null, "size_bytes": int,
     "weights": {"source", "sha256", "license"} | null}   released weights they descend from

Normalization is in pixel space, ``x = (pixel - mean) / std``; an app applies it
only for float32 input (a uint8 model has it folded in). ``resize: "stretch"``:
the app scales the whole camera frame to the input size, aspect not kept.
The tensor fields are read from the flatbuffer, so the card cannot disagree with it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from deeplab_tf.artifacts.files import write_bytes_atomic
from deeplab_tf.artifacts.modes import InputDtype, Output, Quantization

FORMAT = "deeplab_tf.model_card/1"
QUANTIZATIONS = Quantization.choices()
KEYS = (
    "format", "name", "version", "experiment", "description", "model_file", "labels_file", "input", "output",
    "classes", "ignore_label", "quantization", "metrics", "latency_ms", "size_bytes", "weights",
)  # fmt: skip
INPUT_KEYS = ("height", "width", "channels", "color", "dtype", "layout", "normalization", "quantization", "resize")
OUTPUT_KEYS = ("kind", "dtype", "shape", "quantization")


def file_names(stem: str) -> dict[str, str]:
    """``{"model", "labels", "card"}`` file names of an export named ``stem``."""
    return {"model": f"{stem}.tflite", "labels": f"{stem}_labels.txt", "card": f"{stem}.json"}


def labels_text(class_names: Sequence[str]) -> str:
    """The label file: one class name a line, line i = class id i."""
    return "".join(f"{name}\n" for name in class_names)


def _quantization(detail: dict) -> dict | None:
    scale, zero_point = detail["quantization"]
    return None if scale == 0 else {"scale": float(scale), "zero_point": int(zero_point)}


def tensor_contract(tflite_bytes: bytes) -> dict:
    """``{"input": {...}, "output": {...}}``: the tensor fields of a card, read from the flatbuffer.

    Raises:
      ValueError: not one RGB image input [1, H, W, 3] and one scores
        [1, H, W, C] or mask [1, H, W] output.
    """
    interpreter = Interpreter(
        model_content=tflite_bytes, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"a segmentation model has one input and one output, got {len(inputs)} and {len(outputs)}")
    (source,), (result,) = inputs, outputs
    shape, out_shape = [int(s) for s in source["shape"]], [int(s) for s in result["shape"]]
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
        raise ValueError(f"the model input must be [1, H, W, 3], got {shape}")
    if out_shape[:3] != shape[:3] or len(out_shape) not in (3, 4):
        raise ValueError(f"the model output must be [1, H, W, C] or [1, H, W] at the input size, got {out_shape}")
    return {
        "input": {
            "height": shape[1],
            "width": shape[2],
            "dtype": np.dtype(source["dtype"]).name,
            "quantization": _quantization(source),
        },
        "output": {
            "kind": "scores" if len(out_shape) == 4 else "mask",
            "dtype": np.dtype(result["dtype"]).name,
            "shape": out_shape,
            "quantization": _quantization(result),
        },
    }


def build_model_card(
    tflite_bytes: bytes,
    *,
    stem: str,
    name: str,
    version: str,
    experiment: str,
    description: str,
    class_names: Sequence[str],
    colormap: Sequence[Sequence[int]],
    ignore_label: int | None,
    quantization: str,
    mean: Sequence[float],
    std: Sequence[float],
    metrics: dict | None = None,
    latency_ms: dict | None = None,
    weights: dict | None = None,
) -> dict:
    """The model card of ``tflite_bytes`` (validated against it).

    Args:
      tflite_bytes: the exported model; input/output fields and size come from it.
      stem: file stem; the card names ``<stem>.tflite`` and ``<stem>_labels.txt``.
      name, version, experiment, description: free text.
      class_names, colormap: per class id; colours RGB 0..255.
      ignore_label: the label value that marks unlabelled pixels, or None.
      quantization: the export mode (one of QUANTIZATIONS).
      mean, std: the backbone's pixel-space normalization.
      metrics: ``{"dataset", "split", "miou", "per_class_iou"}`` measured on this file, or None.
      latency_ms: ``{"threads", "xnnpack_median"}`` measured on this file, or None.
      weights: the released weights the model descends from (``{"source", "sha256",
        "license"}``, ``ModelDir.weights_origin``), or None (trained from scratch).

    Raises:
      ValueError: a field that does not fit the format or the model (all named).
    """
    contract = tensor_contract(tflite_bytes)
    files = file_names(stem)
    card = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "experiment": experiment,
        "description": description,
        "model_file": files["model"],
        "labels_file": files["labels"],
        "input": {
            **contract["input"],
            "channels": 3,
            "color": "RGB",
            "layout": "NHWC",
            "normalization": {"mean": [float(m) for m in mean], "std": [float(s) for s in std]},
            "resize": "stretch",
        },
        "output": contract["output"],
        "classes": [
            {"id": i, "name": class_name, "color": [int(c) for c in color]}
            for i, (class_name, color) in enumerate(zip(class_names, colormap, strict=True))
        ],
        "ignore_label": ignore_label,
        "quantization": quantization,
        "metrics": metrics,
        "latency_ms": latency_ms,
        "size_bytes": len(tflite_bytes),
        "weights": weights,
    }
    card["input"] = {key: card["input"][key] for key in INPUT_KEYS}
    validate_model_card(card, tflite_bytes)
    return card


def _check_keys(where: str, value, keys: Sequence[str], problems: list[str]) -> bool:
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object, got {value!r}")
        return False
    if set(value) != set(keys):
        missing, extra = sorted(set(keys) - set(value)), sorted(set(value) - set(keys))
        problems.append(f"{where}: missing keys {missing}, unknown keys {extra}")
        return False
    return True


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_quantization_params(where: str, value, problems: list[str]) -> None:
    if value is None:
        return
    if _check_keys(where, value, ("scale", "zero_point"), problems):
        if not (_is_number(value["scale"]) and value["scale"] > 0 and isinstance(value["zero_point"], int)):
            problems.append(f"{where} needs a positive scale and an integer zero_point, got {value}")


def _check_input(card: dict, problems: list[str]) -> None:
    source = card["input"]
    if not _check_keys("input", source, INPUT_KEYS, problems):
        return
    for key in ("height", "width"):
        if not (isinstance(source[key], int) and source[key] > 0):
            problems.append(f"input.{key} must be a positive integer, got {source[key]!r}")
    fixed = {"channels": 3, "color": "RGB", "layout": "NHWC", "resize": "stretch"}
    problems += [f"input.{k} must be {v!r}, got {source[k]!r}" for k, v in fixed.items() if source[k] != v]
    if source["dtype"] not in InputDtype.choices():
        problems.append(f"input.dtype must be uint8 or float32, got {source['dtype']!r}")
    norm = source["normalization"]
    if _check_keys("input.normalization", norm, ("mean", "std"), problems):
        for key in ("mean", "std"):
            values = norm[key]
            if not (isinstance(values, list) and len(values) == 3 and all(_is_number(v) for v in values)):
                problems.append(f"input.normalization.{key} must be 3 numbers, got {values!r}")
        if isinstance(norm["std"], list) and any(_is_number(v) and v <= 0 for v in norm["std"]):
            problems.append(f"input.normalization.std must be positive, got {norm['std']}")
    _check_quantization_params("input.quantization", source["quantization"], problems)


def _check_output(card: dict, num_classes: int, problems: list[str]) -> None:
    result = card["output"]
    if not _check_keys("output", result, OUTPUT_KEYS, problems):
        return
    kind, shape = result["kind"], result["shape"]
    if kind not in Output.choices():
        problems.append(f"output.kind must be scores or mask, got {kind!r}")
    if result["dtype"] not in ("uint8", "int8", "float32"):
        problems.append(f"output.dtype must be uint8, int8 or float32, got {result['dtype']!r}")
    source = card["input"] if isinstance(card["input"], dict) else {}
    expected = [1, source.get("height"), source.get("width")] + ([num_classes] if kind == "scores" else [])
    if shape != expected:
        problems.append(f"output.shape must be {expected} for {kind} at the input size with {num_classes} classes")
    if kind == "mask" and result["dtype"] != "uint8":
        problems.append(f"a mask output is uint8, got {result['dtype']!r}")
    _check_quantization_params("output.quantization", result["quantization"], problems)


def _check_classes(card: dict, problems: list[str]) -> int:
    classes = card["classes"]
    if not isinstance(classes, list) or not classes:
        problems.append("classes must be a non-empty list")
        return 0
    for i, entry in enumerate(classes):
        if not _check_keys(f"classes[{i}]", entry, ("id", "name", "color"), problems):
            continue
        if entry["id"] != i:
            problems.append(f"classes[{i}].id must be {i} (ids are list positions), got {entry['id']!r}")
        if not (isinstance(entry["name"], str) and entry["name"] and "\n" not in entry["name"]):
            problems.append(f"classes[{i}].name must be a one-line non-empty string, got {entry['name']!r}")
        color = entry["color"]
        if not (isinstance(color, list) and len(color) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in color)):
            problems.append(f"classes[{i}].color must be [r, g, b] in 0..255, got {color!r}")
    ignore = card["ignore_label"]
    if ignore is not None and not (isinstance(ignore, int) and len(classes) <= ignore <= 255):
        problems.append(f"ignore_label must be null or an integer in {len(classes)}..255, got {ignore!r}")
    return len(classes)


def _check_measurements(card: dict, problems: list[str]) -> None:
    metrics = card["metrics"]
    if metrics is not None and _check_keys("metrics", metrics, ("dataset", "split", "miou", "per_class_iou"), problems):
        if not (_is_number(metrics["miou"]) and 0 <= metrics["miou"] <= 1):
            problems.append(f"metrics.miou must be in 0..1, got {metrics['miou']!r}")
        if not isinstance(metrics["per_class_iou"], dict):
            problems.append("metrics.per_class_iou must map class names to IoU (or null)")
    weights = card["weights"]
    if weights is not None and _check_keys("weights", weights, ("source", "sha256", "license"), problems):
        if not isinstance(weights["source"], str) or not all(
            weights[k] is None or isinstance(weights[k], str) for k in ("sha256", "license")
        ):
            problems.append(f"weights needs a source name and a sha256 and license (strings or null), got {weights}")
    latency = card["latency_ms"]
    if latency is not None and _check_keys("latency_ms", latency, ("threads", "xnnpack_median"), problems):
        if not (isinstance(latency["threads"], int) and latency["threads"] > 0 and _is_number(latency["xnnpack_median"])):
            problems.append(f"latency_ms needs integer threads > 0 and a number xnnpack_median, got {latency}")
    if not (isinstance(card["size_bytes"], int) and card["size_bytes"] > 0):
        problems.append(f"size_bytes must be a positive integer, got {card['size_bytes']!r}")


def validate_model_card(card: dict, tflite_bytes: bytes | None = None) -> None:
    """Checks a card against the format and, given ``tflite_bytes``, against the model.

    Raises:
      ValueError: listing every problem found.
    """
    problems: list[str] = []
    if not _check_keys("model card", card, KEYS, problems):
        raise ValueError("; ".join(problems))
    if card["format"] != FORMAT:
        problems.append(f"format must be {FORMAT!r}, got {card['format']!r}")
    for key in ("name", "version", "experiment", "description", "model_file", "labels_file"):
        if not isinstance(card[key], str):
            problems.append(f"{key} must be a string, got {card[key]!r}")
    if card["quantization"] not in QUANTIZATIONS:
        problems.append(f"quantization must be one of {QUANTIZATIONS}, got {card['quantization']!r}")
    num_classes = _check_classes(card, problems)
    _check_input(card, problems)
    _check_output(card, num_classes, problems)
    _check_measurements(card, problems)
    if tflite_bytes is not None and not problems:
        contract = tensor_contract(tflite_bytes)
        for part in ("input", "output"):
            for key, value in contract[part].items():
                if card[part][key] != value:
                    problems.append(f"{part}.{key} is {card[part][key]!r} but the model has {value!r}")
        if card["size_bytes"] != len(tflite_bytes):
            problems.append(f"size_bytes is {card['size_bytes']} but the model has {len(tflite_bytes)} bytes")
    if problems:
        raise ValueError("model card: " + "; ".join(problems))


def write_model_card(path: str | os.PathLike, card: dict) -> None:
    """Validates ``card`` (format only) and writes it atomically as indented JSON."""
    validate_model_card(card)
    write_bytes_atomic(path, (json.dumps(card, indent=2) + "\n").encode("utf-8"))


def read_model_card(path: str | os.PathLike) -> dict:
    """Reads and validates a card (format only; pass it the model to check both).

    Raises:
      FileNotFoundError: no such file; ValueError: not JSON or not a valid card.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model card {path} does not exist")
    with open(path, encoding="utf-8") as handle:
        try:
            card = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"model card {path} is not JSON: {error}") from None
    validate_model_card(card)
    return card
