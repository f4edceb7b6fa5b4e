"""deeplab-export's library: a trained model_dir -> a SavedModel, or a .tflite
(with TFLite metadata and its labels packed in) with its label file and model
card (optionally copied into an app's assets).

Everything is computed before anything is written, and every file (and the
SavedModel folder) goes to a temporary name first and is renamed into place,
so a failed export leaves the output folder as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.errors import ArgumentValueError
from deeplab_tf.artifacts.files import write_bytes_atomic
from deeplab_tf.artifacts.model_card import build_model_card, file_names, labels_text, write_model_card
from deeplab_tf.artifacts.model_dir import ModelDir
from deeplab_tf.artifacts.modes import InputDtype, MaskArgmax, Output, Quantization
from deeplab_tf.configs.base import ExperimentConfig
from deeplab_tf.configs.records import load_experiment
from deeplab_tf.data.pipeline import list_record_files, train_dataset
from deeplab_tf.evaluation.evaluator import load_trained_model
from deeplab_tf.evaluation.report import class_names_and_colors
from deeplab_tf.evaluation.tflite import evaluate_tflite
from deeplab_tf.export.benchmark import measure_latency
from deeplab_tf.export.conversion import convert
from deeplab_tf.export.metadata import add_metadata
from deeplab_tf.export.serving_graph import mask_fn, probabilities_fn
from deeplab_tf.export.spec import FORMATS, ExportSpec
from deeplab_tf.models import get_backbone_spec
from deeplab_tf.models.backbones.base import Preprocessing
from deeplab_tf.quantization.finetune import load_qat_model


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What to export; None fields take the experiment's ``export`` config.

    Attributes:
      format: "tflite" or "saved_model" (the float model, batch of any size).
      quantization: TFLite mode (see ``ConvertOptions``); SavedModels are float.
      input_dtype: "uint8" (normalization folded in) or "float32".
      output: "scores" (probabilities) or "mask" (class ids, argmax fused).
      mask_argmax: for a mask, "half" (argmax at half the input size, each id
        copied to 2x2 pixels; the default) or "full" (see ``serving_graph.mask_fn``).
      input_size: (height, width) to export at; default the trained size.
      data_dir: records for int8_ptq calibration and ``evaluate``; default the
        data_dir the experiment recorded.
      calibration_batches: training-pipeline batches for int8_ptq.
      name: file stem; default ``{experiment}_{H}x{W}_{quantization}_{output}``.
      evaluate: measure the exported file's mIoU on the eval split (card metrics).
      latency_threads: measure its XNNPACK latency with this many threads (card latency_ms).
      android_assets: also copy .tflite, labels and card into this folder.
    """

    format: str = "tflite"
    quantization: Quantization | None = None
    input_dtype: InputDtype | None = None
    output: Output | None = None
    mask_argmax: MaskArgmax = MaskArgmax.HALF
    input_size: tuple[int, int] | None = None
    data_dir: str | None = None
    calibration_batches: int | None = None
    name: str | None = None
    evaluate: bool = False
    latency_threads: int | None = None
    android_assets: str | None = None

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        modes = (("quantization", Quantization), ("input_dtype", InputDtype), ("output", Output))
        for field, mode in (*modes, ("mask_argmax", MaskArgmax)):
            if getattr(self, field) is not None:
                object.__setattr__(self, field, mode.parse(getattr(self, field), field))
        if self.input_size is not None and (
            len(self.input_size) != 2 or not all(isinstance(s, int) and s > 0 for s in self.input_size)
        ):
            raise ValueError(f"input_size must be two positive integers (height, width), got {self.input_size!r}")
        if self.format == "saved_model":
            if self.quantization not in (None, Quantization.NONE):
                raise ValueError(f"a SavedModel holds the float model; quantization={self.quantization} is for tflite")
            if self.android_assets or self.evaluate or self.latency_threads:
                raise ValueError("android_assets, evaluate and latency_threads take a tflite export")


# --- the trained model ----------------------------------------------------------


def find_checkpoint(model_dir: str) -> str:
    """The best checkpoint (by validation mIoU) of ``model_dir``, else its latest
    (``ModelDir.trained_checkpoint``).

    Raises:
      FileNotFoundError: ``model_dir`` is missing or holds no checkpoint.
    """
    return ModelDir(model_dir).trained_checkpoint()


def load_float_model(config: ExperimentConfig, checkpoint: str, input_size: Sequence[int]) -> keras.Model:
    """The experiment's float model built at ``input_size`` with the checkpoint's weights
    (weights do not depend on the input size).

    Raises:
      ValueError: a size the backbone cannot take, or a checkpoint of another model.
    """

    try:
        model, _ = load_trained_model(config.model, checkpoint, tuple(input_size))
    except ValueError as error:
        raise ValueError(f"cannot export {config.name} at {input_size[0]}x{input_size[1]}: {error}") from None
    return model


# --- calibration ----------------------------------------------------------------


def calibration_images(
    config: ExperimentConfig, data_dir: str | None, size: Sequence[int], input_dtype: str, batches: int
) -> Callable[[], Iterable[np.ndarray]]:
    """int8_ptq calibration: ``batches`` batches of the training pipeline at ``size``.

    The pipeline's own crops at scale 1 (no random scaling, flip or colour
    jitter: what inference sees), as uint8-range pixels for a uint8-input model
    or normalized floats for a float32-input one.

    Raises:
      ValueError: no data_dir; FileNotFoundError: no training records there.
    """
    if not data_dir:
        raise ArgumentValueError(
            "int8_ptq calibrates on training records: pass `data_dir`=DIR (the experiment records no data_dir)"
        )
    data = dataclasses.replace(
        config.data,
        data_dir=data_dir,
        crop_size=tuple(size),
        min_scale=1.0,
        max_scale=1.0,
        photometric_jitter=0.0,
        random_flip=False,
    )
    try:
        list_record_files(data.data_dir, data.train_split)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"int8_ptq calibration: {error}") from None
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    mean, std = np.float32(preprocessing.mean), np.float32(preprocessing.std)
    pixels = InputDtype(input_dtype).folds_normalization

    def generate():
        for batch in train_dataset(data, preprocessing, seed=0, deterministic=True).take(batches):
            images = batch["image"].numpy()
            yield np.clip(np.round(images * std + mean), 0, 255) if pixels else images

    return generate


# --- SavedModel -----------------------------------------------------------------


def serving_module(
    model: keras.Model, preprocessing: Preprocessing, input_dtype: str, output: str, mask_argmax: str = "half"
) -> tf.Module:
    """A ``tf.Module`` whose ``serve`` takes ``image`` [B, H, W, 3] (uint8 pixels or
    normalized float32) and returns ``{"scores": probabilities}`` or ``{"mask": uint8 ids}``,
    as the TFLite export computes them (``serving_graph.probabilities_fn``, ``serving_graph.mask_fn``).

    Only the model's variables are tracked (not the Keras objects), so saving is quick.
    """
    height, width = model.input_shape[1:3]
    pixels, is_mask = InputDtype(input_dtype).folds_normalization, Output(output).is_mask
    dtype = tf.uint8 if pixels else tf.float32
    mean, std = np.float32(preprocessing.mean), np.float32(preprocessing.std)
    probabilities = probabilities_fn(model)
    mask = mask_fn(model, mask_argmax)

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], dtype, name="image")])
    def serve(image):
        x = tf.cast(image, tf.float32)
        if pixels:
            x = (x - mean) / std
        if is_mask:
            return {"mask": mask(x)}
        return {"scores": probabilities(x)}

    module = tf.Module()
    module.model_variables = list(model.variables)
    module.serve = serve
    return module


def write_saved_model(module: tf.Module, path: str) -> None:
    """Saves ``module`` (signature "serving_default" = ``module.serve``) to ``path``
    through a temporary folder beside it; an existing ``path`` is replaced only on success."""
    parent = os.path.dirname(os.path.abspath(path))
    temp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    old = f"{temp}.old"
    try:
        tf.saved_model.save(module, temp, signatures={"serving_default": module.serve})
        if os.path.exists(path):
            os.replace(path, old)
        os.replace(temp, path)
    finally:
        for leftover in (temp, old):
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(leftover)


# --- classes --------------------------------------------------------------------


def dataset_classes(config: ExperimentConfig, data_dir: str | None) -> tuple[list[str], list, int]:
    """(class names, RGB colours, ignore label) of the experiment's dataset, as
    evaluation reads them (``report.class_names_and_colors``): the registry's, or
    for a ``folder`` dataset those deeplab-convert wrote to ``data_dir/dataset.json``;
    ``class_i`` and a palette when neither knows them."""

    names, colors = class_names_and_colors(config.data.dataset, config.model.num_classes, data_dir)
    return names, colors, config.data.ignore_label


# --- export ---------------------------------------------------------------------


def copy_to_assets(paths: Iterable[str], assets_dir: str) -> list[str]:
    """Copies files into ``assets_dir`` (created), each atomically; returns the new paths."""
    os.makedirs(assets_dir, exist_ok=True)
    copied = []
    for path in paths:
        target = os.path.join(assets_dir, os.path.basename(path))
        with open(path, "rb") as handle:
            write_bytes_atomic(target, handle.read())
        copied.append(target)
    return copied


def export_model(model_dir: str, output_dir: str, options: ExportOptions = ExportOptions()) -> dict:
    """Exports the best (else latest) checkpoint of a deeplab-train ``model_dir``.

    Args:
      model_dir: holds experiment.json and best/ or ckpt/ checkpoints.
      output_dir: where the files go (created).
      options: format, quantization, input/output form, size, extras.

    Returns:
      ``{"checkpoint", "files": {kind: path}, "card" (tflite), "assets": [paths]}``;
      tflite files are ``model``, ``labels``, ``card``; a SavedModel is ``saved_model``.

    Raises:
      FileNotFoundError: no model_dir, experiment.json, checkpoint or records.
      ValueError: bad options, a size the model cannot take, a checkpoint that
        does not fit, int8_ptq without data, int8_qat on a float run (a QAT run,
        from ``deeplab-train --qat_from``, loads through ``quantization.finetune``).
      RuntimeError: the conversion failed its own checks.
    """
    checkpoint = find_checkpoint(model_dir)
    config = load_experiment(model_dir)
    spec = ExportSpec.resolve(config, options, checkpoint)
    if spec.quantization.needs_qat_model:
        model = load_qat_model(model_dir, checkpoint, spec.size)
    else:
        model = load_float_model(config, checkpoint, spec.size)
    result = {"checkpoint": checkpoint, "files": {}, "card": None, "assets": []}
    if spec.format == "saved_model":
        os.makedirs(output_dir, exist_ok=True)
        path = os.path.join(output_dir, spec.name)
        module = serving_module(model, spec.preprocessing, spec.input_dtype, spec.output, spec.mask_argmax)
        write_saved_model(module, path)
        result["files"]["saved_model"] = path
        return result

    calibration = None
    if spec.quantization.needs_calibration:
        calibration = calibration_images(config, spec.data_dir, spec.size, spec.input_dtype, spec.calibration_batches)
    class_names, colors, ignore_label = dataset_classes(config, spec.data_dir)
    tflite_bytes = convert(model, spec.convert_options(calibration))
    tflite_bytes = add_metadata(tflite_bytes, spec.model_info(class_names))
    metrics = latency = None
    if options.evaluate:
        metrics = _measure_metrics(tflite_bytes, config, spec.data_dir, spec.preprocessing, class_names)
    if options.latency_threads:
        run = measure_latency(tflite_bytes, options.latency_threads, xnnpack=True)
        latency = {"threads": options.latency_threads, "xnnpack_median": round(run["median_ms"], 3)}
    card = build_model_card(
        tflite_bytes,
        **spec.card_fields(),
        class_names=class_names,
        colormap=colors,
        ignore_label=ignore_label,
        metrics=metrics,
        latency_ms=latency,
        weights=ModelDir(model_dir).weights_origin(),
    )

    os.makedirs(output_dir, exist_ok=True)
    files = {kind: os.path.join(output_dir, file) for kind, file in file_names(spec.name).items()}
    write_bytes_atomic(files["labels"], labels_text(class_names).encode("utf-8"))
    write_model_card(files["card"], card)
    write_bytes_atomic(files["model"], tflite_bytes)
    result.update(files=files, card=card)
    if options.android_assets:
        result["assets"] = copy_to_assets([files["model"], files["labels"], files["card"]], options.android_assets)
    return result


def _measure_metrics(tflite_bytes, config, data_dir, preprocessing, class_names) -> dict | None:

    if not data_dir:
        raise ArgumentValueError("evaluate needs records: pass `data_dir`=DIR (the experiment records no data_dir)")
    split = config.data.eval_split
    result = evaluate_tflite(
        tflite_bytes,
        preprocessing,
        config.model.num_classes,
        data_dir,
        split,
        config.data.ignore_label,
        class_names,
        batch_size=config.data.batch_size,
    )
    if result["miou"] is None:
        return None
    return {"dataset": config.data.dataset, "split": split, "miou": result["miou"], "per_class_iou": result["per_class_iou"]}
