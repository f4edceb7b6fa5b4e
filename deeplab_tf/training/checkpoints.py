"""A model_dir as functions of its path, for the scripts and tests that call them so.

The layout and its rules live in ``deeplab_tf.artifacts.model_dir.ModelDir``; the experiment
record's conversion in ``deeplab_tf.configs.records``. Each function here is one call onto them.
"""

from __future__ import annotations

from deeplab_tf.artifacts.files import read_json, write_json_atomic  # noqa: F401
from deeplab_tf.artifacts.model_dir import (  # noqa: F401
    EXPERIMENT_FILE,
    IMPORT_FILE,
    INIT_FROM_FILE,
    QAT_KEY,
    ModelDir,
    has_training_state,
    restore_model,
)
from deeplab_tf.configs.records import load_experiment, save_experiment  # noqa: F401


def load_qat_origin(model_dir: str) -> dict | None:
    """``ModelDir.qat_origin``."""
    return ModelDir(model_dir).qat_origin()


def latest_checkpoint(model_dir: str, which: str = "ckpt") -> str | None:
    """``ModelDir.latest_checkpoint``."""
    return ModelDir(model_dir).latest_checkpoint(which)


def require_checkpoint(model_dir: str, which: str = "ckpt") -> str:
    """``ModelDir.require_checkpoint``."""
    return ModelDir(model_dir).require_checkpoint(which)


def best_or_latest_checkpoint(model_dir: str) -> str | None:
    """``ModelDir.best_or_latest_checkpoint``."""
    return ModelDir(model_dir).best_or_latest_checkpoint()


def weights_origin(model_dir: str) -> dict | None:
    """``ModelDir.weights_origin``."""
    return ModelDir(model_dir).weights_origin()
