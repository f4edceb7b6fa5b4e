"""An experiment as a run folder records it: ``ExperimentConfig`` <-> ``model_dir/experiment.json``."""

from __future__ import annotations

import os

from deeplab_tf.artifacts.model_dir import ModelDir
from deeplab_tf.configs.base import ExperimentConfig, from_dict, to_dict


def save_experiment(model_dir: str | os.PathLike, config: ExperimentConfig, qat_origin: dict | None = None) -> None:
    """Writes experiment.json; ``qat_origin`` marks a QAT fine-tuning (of which float model)."""
    os.makedirs(model_dir, exist_ok=True)
    ModelDir(model_dir).write_experiment_record(to_dict(config), qat_origin)


def load_experiment(model_dir: str | os.PathLike) -> ExperimentConfig:
    """The ExperimentConfig saved in ``model_dir``.

    Raises:
      FileNotFoundError: ``model_dir`` holds no experiment.json.
    """
    return from_dict(ExperimentConfig, ModelDir(model_dir).experiment_record())
