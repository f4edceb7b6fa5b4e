"""What a model_dir holds, and how to read it back.

    model_dir/
      experiment.json        the full ExperimentConfig the run was started with; a QAT
                             fine-tuning's also has "qat": {"float_model_dir", "float_checkpoint"}
      ckpt/ckpt-N.*          last K training checkpoints (model, optimizer, step)
      best/ckpt-N.*          the checkpoint with the best validation mIoU
      best.json              its step and metrics
      train/, eval/          TensorBoard events
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from deeplab_tf.configs.base import ExperimentConfig, from_dict, to_dict

EXPERIMENT_FILE = "experiment.json"
QAT_KEY = "qat"


def write_json_atomic(path: str, data) -> None:
    """Writes JSON to ``path`` through a temporary name, so readers never see half a file."""
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(temp, path)


def read_json(path: str) -> dict | None:
    """The JSON object in ``path``, or None when there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_experiment(model_dir: str, config: ExperimentConfig, qat_origin: dict | None = None) -> None:
    """Writes experiment.json; ``qat_origin`` marks a QAT fine-tuning (of which float model)."""
    os.makedirs(model_dir, exist_ok=True)
    data = to_dict(config)
    if qat_origin is not None:
        data[QAT_KEY] = qat_origin
    write_json_atomic(os.path.join(model_dir, EXPERIMENT_FILE), data)


def _read_experiment_json(model_dir: str) -> dict:
    path = os.path.join(model_dir, EXPERIMENT_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{model_dir} is not a model_dir of deeplab-train: it has no {EXPERIMENT_FILE}")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_experiment(model_dir: str) -> ExperimentConfig:
    """The ExperimentConfig saved in ``model_dir``.

    Raises:
      FileNotFoundError: ``model_dir`` holds no experiment.json.
    """
    data = _read_experiment_json(model_dir)
    data.pop(QAT_KEY, None)
    return from_dict(ExperimentConfig, data)


def load_qat_origin(model_dir: str) -> dict | None:
    """The "qat" section of a QAT fine-tuning's experiment.json (float_model_dir,
    float_checkpoint); None for a float run.

    Raises:
      FileNotFoundError: ``model_dir`` holds no experiment.json.
    """
    return _read_experiment_json(model_dir).get(QAT_KEY)


def latest_checkpoint(model_dir: str, which: str = "ckpt") -> str | None:
    """Path prefix of the newest checkpoint in ``model_dir/which`` ("ckpt" or "best"), or None."""
    return tf.train.latest_checkpoint(os.path.join(model_dir, which))


def require_checkpoint(model_dir: str, which: str = "ckpt") -> str:
    """Like ``latest_checkpoint`` but raises FileNotFoundError naming the folder."""
    path = latest_checkpoint(model_dir, which)
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(model_dir, which)}; train first with deeplab-train")
    return path


def restore_model(model, checkpoint_path: str) -> None:
    """Loads the model weights of a training checkpoint into ``model`` (optimizer state is ignored).

    Raises:
      ValueError: the checkpoint does not fit the model (other architecture or class count).
    """
    status = tf.train.Checkpoint(model=model).restore(checkpoint_path)
    try:
        status.expect_partial().assert_existing_objects_matched()
    except AssertionError as error:
        raise ValueError(f"checkpoint {checkpoint_path} does not match the model {model.name}: {error}") from None
