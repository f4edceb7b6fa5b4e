"""mIoU of a .tflite file itself, run in the LiteRT interpreter (XNNPACK), as an app runs it.

Each evaluation image is taken at its own size, stretched to the model's
fixed input size (the model card's ``resize: "stretch"``), fed as uint8 pixels
or normalized float32 as the model takes them, and its output is resized back
to the image size (scores bilinear, a mask nearest) before scoring. The loop and
metrics are ``evaluate_predictions``'s, as for a Keras model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from deeplab_tf.artifacts.errors import ArgumentFileNotFoundError
from deeplab_tf.artifacts.files import read_json
from deeplab_tf.artifacts.model_card import file_names, read_model_card, tensor_contract, validate_model_card
from deeplab_tf.configs.base import DataConfig
from deeplab_tf.data.pipeline import eval_dataset, largest_image
from deeplab_tf.evaluation.evaluator import evaluate_predictions, with_sizes
from deeplab_tf.evaluation.report import fallback_palette
from deeplab_tf.models.backbones.base import Preprocessing


def describe_tflite(path: str) -> dict:
    """What evaluating ``path`` needs to know: its tensors, class names, ignore label, normalization.

    Read from the model card ``<stem>.json`` beside the file when present
    (checked against the model); otherwise from the tensors, class names from
    ``<stem>_labels.txt``.

    Returns:
      ``{"tflite_bytes", "card" (or None), "contract", "class_names",
      "ignore_label" (or None), "preprocessing"}`` (the identity without a card:
      a uint8-input model normalizes inside).

    Raises:
      FileNotFoundError: no such file; ValueError: a card that does not fit the
        model, neither card nor label file to name the classes of a mask output,
        or a float32-input model without a card.
    """
    if not os.path.isfile(path):
        raise ArgumentFileNotFoundError(f"`path`={path} does not exist")
    with open(path, "rb") as handle:
        tflite_bytes = handle.read()
    contract = tensor_contract(tflite_bytes)
    stem = os.path.join(os.path.dirname(path), os.path.basename(path).removesuffix(".tflite"))
    names = file_names(stem)
    card = read_model_card(names["card"]) if os.path.exists(names["card"]) else None
    if card is not None:
        validate_model_card(card, tflite_bytes)
        normalization = card["input"]["normalization"]
        return {
            "tflite_bytes": tflite_bytes,
            "card": card,
            "contract": contract,
            "class_names": [entry["name"] for entry in card["classes"]],
            "ignore_label": card["ignore_label"],
            "preprocessing": Preprocessing(tuple(normalization["mean"]), tuple(normalization["std"])),
        }
    class_names = None
    if os.path.exists(names["labels"]):
        with open(names["labels"], encoding="utf-8") as handle:
            class_names = [line.rstrip("\n") for line in handle if line.strip()]
    if contract["output"]["kind"] == "scores":
        count = contract["output"]["shape"][-1]
        if class_names is not None and len(class_names) != count:
            raise ValueError(f"{names['labels']} names {len(class_names)} classes, the model outputs {count}")
        class_names = class_names or [f"class_{i}" for i in range(count)]
    elif class_names is None:
        raise ValueError(f"{path} outputs a mask; its class count comes from {names['card']} or {names['labels']}")
    if contract["input"]["dtype"] != "uint8":
        raise ValueError(f"{path} takes normalized float32 input; its normalization comes from {names['card']}")
    return {
        "tflite_bytes": tflite_bytes,
        "card": None,
        "contract": contract,
        "class_names": class_names,
        "ignore_label": None,
        "preprocessing": Preprocessing((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # uint8 pixels: normalization is inside
    }


def model_input(pixels: np.ndarray, size: Sequence[int], dtype, mean, std) -> np.ndarray:
    """One image as a model of fixed ``size`` takes it: RGB pixels [h, w, 3] stretched to
    ``size`` (bilinear, aspect not kept: the card's ``resize: "stretch"``), then uint8 pixels
    for a uint8 ``dtype``, else float32 normalized by ``mean`` and ``std``."""
    pixels = np.asarray(pixels, np.float32)
    if pixels.shape[:2] != tuple(size):
        pixels = tf.image.resize(pixels, size, method="bilinear").numpy()
    if np.dtype(dtype) == np.uint8:
        return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    return ((pixels - mean) / std).astype(np.float32)


def output_at(output: np.ndarray, size: Sequence[int], quantization: dict | None) -> np.ndarray:
    """One model output back at an image's ``size``: a mask's class ids [H, W] resized
    nearest, or scores [H, W, C] dequantized (``quantization``: the output's scale and
    zero point, None for float) and resized bilinear."""
    size = tuple(size)
    if output.ndim == 2:
        if output.shape != size:
            output = tf.image.resize(output[..., None], size, method="nearest").numpy()[..., 0]
        return output
    scores = output.astype(np.float32)
    if quantization is not None:
        scores = (scores - quantization["zero_point"]) * quantization["scale"]
    if scores.shape[:2] != size:
        scores = tf.image.resize(scores, size, method="bilinear").numpy()
    return scores


def mask_at(output: np.ndarray, size: Sequence[int], quantization: dict | None) -> np.ndarray:
    """Class ids uint8 [h, w] at ``size`` of one model output (``output_at``, then the argmax of scores)."""
    result = output_at(output, size, quantization)
    return (result if result.ndim == 2 else result.argmax(-1)).astype(np.uint8)


class TFLitePredictor:
    """``predict_fn`` for ``evaluate_predictions``: normalized, padded images in,
    class scores at the padded size out, each image run through the interpreter.

    Set ``sizes`` to the (height, width) of each image of the next batch (their
    area inside the padding); without it the whole padded image is used.
    """

    def __init__(self, tflite_bytes: bytes, preprocessing: Preprocessing, num_classes: int, num_threads: int = 2):
        self.interpreter = Interpreter(
            model_content=tflite_bytes, num_threads=num_threads, experimental_op_resolver_type=OpResolverType.AUTO
        )
        self.interpreter.allocate_tensors()
        (self.input,), (self.output,) = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        contract = tensor_contract(tflite_bytes)
        self.size = (contract["input"]["height"], contract["input"]["width"])
        self.kind = contract["output"]["kind"]
        self.quantization = contract["output"]["quantization"]
        self.mean = np.asarray(preprocessing.mean, np.float32)
        self.std = np.asarray(preprocessing.std, np.float32)
        self.num_classes = num_classes
        self.sizes: list[tuple[int, int]] | None = None

    def _invoke(self, pixels: np.ndarray) -> np.ndarray:
        """float32 RGB pixels [h, w, 3] -> the model's output for them, at the model's size."""
        image = model_input(pixels, self.size, self.input["dtype"], self.mean, self.std)
        self.interpreter.set_tensor(self.input["index"], image[None])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])[0]

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        """float32 RGB pixels [h, w, 3] -> scores [h, w, C] (one-hot for a mask output)."""
        result = output_at(self._invoke(pixels), pixels.shape[:2], self.quantization)
        return np.eye(self.num_classes, dtype=np.float32)[result] if self.kind == "mask" else result

    def mask(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 [h, w, 3] of any size -> class ids uint8 [h, w] (the model's size, stretched and back)."""
        pixels = np.asarray(image, np.float32)
        return mask_at(self._invoke(pixels), pixels.shape[:2], self.quantization)

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images, np.float32)
        sizes = self.sizes or [images.shape[1:3]] * len(images)
        scores = np.zeros((*images.shape[:3], self.num_classes), np.float32)
        for i, (height, width) in enumerate(sizes):
            pixels = images[i, :height, :width] * self.std + self.mean
            scores[i, :height, :width] = self._run(pixels)
        return scores


def evaluate_tflite(
    tflite_bytes: bytes,
    preprocessing: Preprocessing,
    num_classes: int,
    data_dir: str,
    split: str = "val",
    ignore_label: int = 255,
    class_names=None,
    num_threads: int = 2,
    batch_size: int = 4,
    max_batches: int | None = None,
) -> dict:
    """Evaluates a .tflite on the records of ``split`` in ``data_dir``.

    Args:
      tflite_bytes: the model (uint8 or float32 input; scores or mask output).
      preprocessing: its pixel-space normalization (for float32 input; images are
        also de-normalized with it after the evaluation pipeline normalized them).
      num_classes, ignore_label, class_names: of the labels.
      num_threads: interpreter threads (XNNPACK delegate applied).
      batch_size: images per batch read from the pipeline.
      max_batches: stop after this many batches.

    Returns:
      The dict of ``evaluate_predictions`` plus ``eval_size`` (the padding
      canvas: the largest image) and ``input_size`` (the model's).

    Raises:
      FileNotFoundError: no records; ValueError: bad labels.
    """
    eval_size = largest_image(data_dir, split)
    data = DataConfig(data_dir=data_dir, eval_split=split, batch_size=batch_size, ignore_label=ignore_label)
    predictor = TFLitePredictor(tflite_bytes, preprocessing, num_classes, num_threads)
    dataset = eval_dataset(data, preprocessing, eval_size)
    result = evaluate_predictions(
        predictor, with_sizes(dataset, predictor), num_classes, ignore_label, class_names, max_batches
    )
    result.update(eval_size=list(eval_size), input_size=list(predictor.size))
    return result


def _dataset_json_ignore_label(data_dir: str) -> int | None:
    summary = read_json(os.path.join(data_dir, "dataset.json"))
    return None if summary is None else summary.get("dataset", {}).get("ignore_label")


def evaluate_tflite_file(
    path: str, data_dir: str, split: str = "val", num_threads: int = 2, max_batches: int | None = None
) -> tuple[dict, list]:
    """``evaluate_tflite`` on a file, classes and normalization from ``describe_tflite``.

    The ignore label is the model card's, else the one deeplab-convert wrote to
    ``data_dir/dataset.json``, else 255.

    Returns:
      (report: the evaluation result plus ``tflite``, ``data_dir``, ``split``,
      ``class_names``, ``input``/``output`` tensor contract, ``quantization``;
      colormap: RGB per class, for the report pictures).
    """
    described = describe_tflite(path)
    class_names = described["class_names"]
    ignore_label = described["ignore_label"]
    if ignore_label is None:
        ignore_label = _dataset_json_ignore_label(data_dir)
    ignore_label = 255 if ignore_label is None else ignore_label
    result = evaluate_tflite(
        described["tflite_bytes"],
        described["preprocessing"],
        len(class_names),
        data_dir,
        split,
        ignore_label,
        class_names,
        num_threads,
        max_batches=max_batches,
    )
    card = described["card"]
    colormap = [tuple(c["color"]) for c in card["classes"]] if card else list(fallback_palette(len(class_names)))
    report = {
        "tflite": os.path.abspath(path),
        "quantization": card["quantization"] if card else None,
        **described["contract"],
        "data_dir": data_dir,
        "split": split,
        "ignore_label": ignore_label,
        "num_threads": num_threads,
        "class_names": class_names,
        **result,
    }
    return report, colormap
