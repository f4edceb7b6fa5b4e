"""What a model_dir holds, and how to read it back.

    model_dir/
      experiment.json        the full ExperimentConfig the run was started with; a QAT
                             fine-tuning's also has "qat": {"float_model_dir", "float_checkpoint"}
      ckpt/ckpt-N.*          last K training checkpoints (model, optimizer, step)
      best/ckpt-N.*          the checkpoint with the best validation mIoU
      best.json              its step and metrics
      train/, eval/          TensorBoard events
      import.json            deeplab-import's: where the weights came from (``weights_origin``)
      init_from.json         a run started with --init_from: from what
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


IMPORT_FILE = "import.json"
INIT_FROM_FILE = "init_from.json"


def weights_origin(model_dir: str, _depth: int = 0) -> dict | None:
    """Released weights that ``model_dir``'s weights descend from: ``{"source" (file name, with the
    checkpoint inside an archive), "sha256", "license"}``, found through deeplab-import's record,
    a QAT run's float model_dir and a run's --init_from; None for weights trained from scratch."""
    if _depth > 8:
        return None
    record = read_json(os.path.join(model_dir, IMPORT_FILE))
    if record is None and os.path.exists(os.path.join(model_dir, INIT_FROM_FILE)):
        record = read_json(os.path.join(model_dir, INIT_FROM_FILE))
        if record.get("kind") is None:  # started from another model_dir
            return weights_origin(record["init_from"], _depth + 1)
    if record is not None:
        source = os.path.basename(record["source"]) + (f":{record['member']}" if record.get("member") else "")
        return {"source": source, "sha256": record.get("sha256"), "license": record.get("license")}
    origin = load_qat_origin(model_dir) if os.path.exists(os.path.join(model_dir, EXPERIMENT_FILE)) else None
    return weights_origin(origin["float_model_dir"], _depth + 1) if origin else None


def best_or_latest_checkpoint(model_dir: str) -> str | None:
    """The best checkpoint (by validation mIoU) of ``model_dir``, else its latest, else None."""
    return latest_checkpoint(model_dir, "best") or latest_checkpoint(model_dir, "ckpt")


def has_training_state(checkpoint_path: str) -> bool:
    """Whether a checkpoint holds an optimizer (a training run's) or only a model (deeplab-import's)."""
    names = tf.train.load_checkpoint(checkpoint_path).get_variable_to_shape_map()
    return any(name.startswith("optimizer/") for name in names)


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
