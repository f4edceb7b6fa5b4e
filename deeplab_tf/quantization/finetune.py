"""Quantization-aware fine-tuning of a trained float model, on the model_dir side.

``deeplab-train --qat_from=FLOAT_MODEL_DIR --model_dir=QAT_DIR`` trains with
the usual loop (``training/trainer.py``) on the model built here: the float
model of the experiment with FLOAT_MODEL_DIR's best (else latest) checkpoint,
wrapped by ``quantize_model`` (weights matched by layer name), its activation
ranges calibrated on training batches. QAT_DIR has the usual layout; its
experiment.json holds the fine-tuning's config and a "qat" section naming the
float model_dir and checkpoint. ``load_qat_model(QAT_DIR)`` rebuilds the QAT
model for evaluation and export.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tf_keras as keras

from deeplab_tf.artifacts.errors import ArgumentFileNotFoundError, ArgumentValueError
from deeplab_tf.artifacts.model_dir import ModelDir, restore_model
from deeplab_tf.artifacts.modes import MixedPrecision
from deeplab_tf.configs.base import ExperimentConfig, to_dict
from deeplab_tf.configs.records import load_experiment
from deeplab_tf.data.pipeline import training_images
from deeplab_tf.models import build_deeplab, get_backbone_spec
from deeplab_tf.models.batch_norm import folded_batch_norms, unfold_batch_norms
from deeplab_tf.quantization.calibration import calibrate
from deeplab_tf.quantization.qat import quantize_model


def qat_experiment(config: ExperimentConfig) -> ExperimentConfig:
    """The experiment a QAT fine-tuning runs: ``config`` with ``train.train_steps``
    and ``train.learning_rate`` from ``config.quant``, no warm-up and float32. Its
    in-loop validation stretches each image to the model's (fixed) input size and
    resizes the logits back, as the int8 export is run (``StretchPredictor``).

    Raises:
      ValueError: the training crop differs from the model's input size (the
        QAT model, like the int8 model it becomes, has one fixed input size).
    """
    if tuple(config.data.crop_size) != tuple(config.model.input_size):
        raise ArgumentValueError(
            f"QAT trains at one fixed input size: data.crop_size {tuple(config.data.crop_size)} must equal "
            f"model.input_size {tuple(config.model.input_size)}; set `data.crop_size`=H,W and "
            "`model.input_size`=H,W to one size"
        )
    train = dataclasses.replace(
        config.train,
        train_steps=config.quant.train_steps,
        learning_rate=config.quant.learning_rate,
        warmup_steps=0,
        mixed_precision=MixedPrecision.NONE,
    )
    return dataclasses.replace(config, train=train)


def float_checkpoint(float_model_dir: str) -> str:
    """The best checkpoint of ``float_model_dir``, else its latest (``ModelDir.trained_checkpoint``).

    Raises:
      FileNotFoundError: no checkpoint in either.
    """
    return ModelDir(float_model_dir).trained_checkpoint()


def check_float_model_dir(float_model_dir: str, config: ExperimentConfig) -> dict:
    """Checks that ``float_model_dir`` holds a float run of ``config``'s
    architecture; returns the "qat" section for the fine-tuning's experiment.json.

    Raises:
      FileNotFoundError: not a model_dir (no experiment.json) or no checkpoint.
      ValueError: a QAT run, or a model of another architecture (the fields
        that differ are listed; the input size may differ).
    """
    if not os.path.isdir(float_model_dir):
        raise ArgumentFileNotFoundError(f"`qat_from`={float_model_dir}: no such directory")
    saved = load_experiment(float_model_dir)
    if ModelDir(float_model_dir).qat_origin() is not None:
        raise ArgumentValueError(f"`qat_from`={float_model_dir} is itself a QAT run; give the float model_dir it came from")
    old = to_dict(dataclasses.replace(saved.model, input_size=config.model.input_size))
    new = to_dict(config.model)
    diff = [f"{key}: {old[key]} -> {new[key]}" for key in new if old.get(key) != new[key]]
    if diff:
        raise ArgumentValueError(
            f"`qat_from`={float_model_dir} holds a model of another architecture than experiment "
            f"{config.name!r} ({'; '.join(diff)}); use the experiment the float model was trained with"
        )
    return {"float_model_dir": os.path.abspath(float_model_dir), "float_checkpoint": float_checkpoint(float_model_dir)}


def check_qat_model_dir(model_dir: str, origin: dict) -> dict:
    """Refuses to resume ``model_dir`` if it is a float run or a QAT run of another
    float model; returns the "qat" section to keep (the saved one on resume).

    Raises:
      ValueError: naming what ``model_dir`` holds.
    """
    run = ModelDir(model_dir)
    if not run.has_experiment():
        return origin
    saved = run.qat_origin()
    if saved is None:
        raise ArgumentValueError(f"model_dir {model_dir} holds a float run; give QAT its own `model_dir`")
    if saved["float_model_dir"] != origin["float_model_dir"]:
        raise ArgumentValueError(
            f"model_dir {model_dir} holds QAT of {saved['float_model_dir']}, not of {origin['float_model_dir']}; "
            "use a new `model_dir`"
        )
    return saved


def input_range(config: ExperimentConfig) -> tuple[float, float]:
    """The model inputs' range: pixels 0..255 after the backbone's normalization."""
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    mean, std = np.asarray(preprocessing.mean, np.float64), np.asarray(preprocessing.std, np.float64)
    return float(np.min((0.0 - mean) / std)), float(np.max((255.0 - mean) / std))


def build_qat_model(
    config: ExperimentConfig, float_checkpoint_path: str | None = None, input_size: tuple[int, int] | None = None
) -> keras.Model:
    """The float model of ``config`` wrapped for QAT (the float model is not kept).

    Args:
      config: the experiment.
      float_checkpoint_path: float weights to start from; None leaves them to
        a QAT checkpoint restored afterwards.
      input_size: (height, width); default ``config.model.input_size``.

    Returns:
      The model from ``quantize_model``; its activation ranges are tfmot's
      initial ones until calibrated (``calibrate_on_training_data``) or restored.
      Batch norms of an imported .tflite (identity) first get the statistics of
      training batches (``models.batch_norm``), or QAT would rescale every layer.

    Raises:
      ValueError: the checkpoint does not fit the model.
    """
    # No pretrained backbone weights: a checkpoint overwrites them all.
    backbone = dataclasses.replace(config.model.backbone, weights=None)
    size = tuple(input_size or config.model.input_size)
    float_model = build_deeplab(dataclasses.replace(config.model, backbone=backbone, input_size=size))
    if float_checkpoint_path is not None:
        try:
            restore_model(float_model, float_checkpoint_path)
        except ValueError as error:  # also TensorFlow's own, on a shape mismatch
            raise ValueError(
                f"float checkpoint {float_checkpoint_path} does not match the model of experiment "
                f"{config.name!r}: {error}"
            ) from None
        folded = folded_batch_norms(float_model)  # an imported .tflite's: QAT trains them
        if folded:
            unfold_batch_norms(float_model, folded, calibration_batches(config))
    return quantize_model(float_model, input_range(config))


def calibration_batches(config: ExperimentConfig, count: int | None = None):
    """``count`` (default ``quant.calibration_batches``) batches of normalized
    training images, from the training pipeline (augmentation included)."""

    count = config.quant.calibration_batches if count is None else count
    if count < 1:
        raise ValueError(f"quant.calibration_batches must be at least 1, got {count}")
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    return training_images(config.data, preprocessing, count, seed=config.train.seed)


def calibrate_on_training_data(model: keras.Model, config: ExperimentConfig) -> dict:
    """Sets the QAT ``model``'s activation ranges from training batches (``calibrate``)."""
    return calibrate(model, calibration_batches(config))


def load_qat_model(
    model_dir: str, checkpoint: str | None = None, input_size: tuple[int, int] | None = None
) -> keras.Model:
    """The QAT model of a ``deeplab-train --qat_from`` run, with its weights and ranges.

    Args:
      model_dir: the QAT run's model_dir.
      checkpoint: checkpoint path prefix; default: the best, else the latest.
      input_size: (height, width) to build at; default: the size it was trained
        at (weights and ranges do not depend on it).

    Returns:
      The model from ``quantize_model``, ready for ``convert(..., "int8_qat")``.

    Raises:
      FileNotFoundError: no experiment.json or no checkpoint.
      ValueError: ``model_dir`` is a float run, or the checkpoint does not fit.
    """
    config = load_experiment(model_dir)
    if ModelDir(model_dir).qat_origin() is None:
        raise ValueError(
            f"{model_dir} is a float run: int8_qat needs the model_dir of a QAT fine-tuning "
            f"(deeplab-train --experiment={config.name} --qat_from={model_dir} --model_dir=QAT_DIR)"
        )
    if checkpoint is None:
        checkpoint = ModelDir(model_dir).trained_checkpoint()
    model = build_qat_model(config, input_size=input_size)
    restore_model(model, checkpoint)
    return model
