"""A run folder (``model_dir``): the one place that knows its layout.

    model_dir/
      experiment.json        the full ExperimentConfig the run was started with; a QAT
                             fine-tuning's also has "qat": {"float_model_dir", "float_checkpoint"}
      ckpt/ckpt-N.*          last K training checkpoints (model, optimizer, step)
      best/ckpt-N.*          the checkpoint with the best validation mIoU
      best.json              its step and metrics
      train/, eval/          TensorBoard events
      import.json            deeplab-import's: where the weights came from (``weights_origin``)
      init_from.json         a run started with --init_from: from what

The experiment record is a plain dict here; ``deeplab_tf.configs.records`` turns it into an
``ExperimentConfig``.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf

from deeplab_tf.artifacts.files import read_json, write_json_atomic

EXPERIMENT_FILE = "experiment.json"
BEST_FILE = "best.json"
IMPORT_FILE = "import.json"
INIT_FROM_FILE = "init_from.json"
QAT_KEY = "qat"
CHECKPOINTS, BEST = "ckpt", "best"  # the two checkpoint folders
_MAX_ORIGIN_DEPTH = 8


class ModelDir:
    """The files of one run folder, by what they are rather than by name.

    Args:
      path: the folder (it need not exist yet).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"ModelDir({self.path!r})"

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def experiment_file(self) -> str:
        return self.file(EXPERIMENT_FILE)

    @property
    def init_from_file(self) -> str:
        return self.file(INIT_FROM_FILE)

    def events_dir(self, which: str) -> str:
        """The TensorBoard folder of ``which``: "train" or "eval"."""
        if which not in ("train", "eval"):
            raise ValueError(f"which must be 'train' or 'eval', got {which!r}")
        return self.file(which)

    def checkpoint_dir(self, which: str = CHECKPOINTS) -> str:
        """The folder of the training checkpoints (``"ckpt"``) or of the best one (``"best"``)."""
        if which not in (CHECKPOINTS, BEST):
            raise ValueError(f"which must be {CHECKPOINTS!r} or {BEST!r}, got {which!r}")
        return self.file(which)

    # --- the experiment record ---------------------------------------------------

    def has_experiment(self) -> bool:
        return os.path.exists(self.experiment_file)

    def _read_record(self) -> dict:
        record = read_json(self.experiment_file)
        if record is None:
            raise FileNotFoundError(f"{self.path} is not a model_dir of deeplab-train: it has no {EXPERIMENT_FILE}")
        return record

    def experiment_record(self) -> dict:
        """The experiment's config as a dict (``configs.base.to_dict``), without the QAT section.

        Raises:
          FileNotFoundError: the folder holds no experiment.json.
        """
        record = self._read_record()
        record.pop(QAT_KEY, None)
        return record

    def qat_origin(self) -> dict | None:
        """The "qat" section of a QAT fine-tuning's record (float_model_dir, float_checkpoint);
        None for a float run.

        Raises:
          FileNotFoundError: the folder holds no experiment.json.
        """
        return self._read_record().get(QAT_KEY)

    def write_experiment_record(self, config: dict, qat_origin: dict | None = None) -> None:
        """Writes experiment.json; ``qat_origin`` marks a QAT fine-tuning (of which float model)."""
        record = dict(config)
        if qat_origin is not None:
            record[QAT_KEY] = qat_origin
        write_json_atomic(self.experiment_file, record)

    # --- checkpoints ---------------------------------------------------------------

    def latest_checkpoint(self, which: str = CHECKPOINTS) -> str | None:
        """Path prefix of the newest checkpoint in ``which`` ("ckpt" or "best"), or None."""
        return tf.train.latest_checkpoint(self.checkpoint_dir(which))

    def require_checkpoint(self, which: str = CHECKPOINTS) -> str:
        """Like ``latest_checkpoint`` but raises FileNotFoundError naming the folder."""
        path = self.latest_checkpoint(which)
        if path is None:
            raise FileNotFoundError(f"no checkpoint in {self.checkpoint_dir(which)}; train first with deeplab-train")
        return path

    def best_or_latest_checkpoint(self) -> str | None:
        """The best checkpoint (by validation mIoU), else the latest, else None: the one rule
        every reader of a trained run (export, QAT, --init_from) follows."""
        return self.latest_checkpoint(BEST) or self.latest_checkpoint(CHECKPOINTS)

    def trained_checkpoint(self) -> str:
        """``best_or_latest_checkpoint``, required.

        Raises:
          FileNotFoundError: the folder does not exist or holds no checkpoint (both folders named).
        """
        if not os.path.isdir(self.path):
            raise FileNotFoundError(f"model_dir {self.path} does not exist")
        path = self.best_or_latest_checkpoint()
        if path is None:
            raise FileNotFoundError(
                f"no checkpoint in {self.checkpoint_dir(BEST)} or {self.checkpoint_dir(CHECKPOINTS)}: "
                "not a trained model_dir"
            )
        return path

    def list_checkpoints(self) -> list[str]:
        """The training checkpoints' prefixes, oldest first."""
        state = tf.train.get_checkpoint_state(self.checkpoint_dir(CHECKPOINTS))
        paths = list(state.all_model_checkpoint_paths) if state else []
        return [p for p in paths if tf.io.gfile.exists(f"{p}.index")]

    def read_best(self) -> dict | None:
        """best.json: ``{"step", "miou", "per_class_iou"}`` of the best checkpoint, or None."""
        return read_json(self.file(BEST_FILE))

    def write_best(self, best: dict) -> None:
        write_json_atomic(self.file(BEST_FILE), best)

    # --- where the weights came from -------------------------------------------------

    def write_import_record(self, record: dict) -> None:
        write_json_atomic(self.file(IMPORT_FILE), record)

    def write_init_from(self, record: dict) -> None:
        write_json_atomic(self.init_from_file, record)

    def weights_origin(self, _depth: int = 0) -> dict | None:
        """Released weights that the run's weights descend from: ``{"source" (file name, with the
        checkpoint inside an archive), "sha256", "license"}``, found through deeplab-import's
        record, a QAT run's float model_dir and a run's --init_from; None for weights trained
        from scratch."""
        if _depth > _MAX_ORIGIN_DEPTH:
            return None
        record = read_json(self.file(IMPORT_FILE))
        if record is None and os.path.exists(self.init_from_file):
            record = read_json(self.init_from_file)
            if record.get("kind") is None:  # started from another model_dir
                return ModelDir(record["init_from"]).weights_origin(_depth + 1)
        if record is not None:
            source = os.path.basename(record["source"]) + (f":{record['member']}" if record.get("member") else "")
            return {"source": source, "sha256": record.get("sha256"), "license": record.get("license")}
        origin = self.qat_origin() if self.has_experiment() else None
        return ModelDir(origin["float_model_dir"]).weights_origin(_depth + 1) if origin else None


# --- one checkpoint ---------------------------------------------------------------


def checkpoint_step(checkpoint: str) -> int:
    """N of a ``.../ckpt-N`` prefix: the trainer numbers checkpoints by training step."""
    match = re.search(r"-(\d+)$", checkpoint)
    if not match:
        raise ValueError(f"{checkpoint} is not a checkpoint prefix ending in -N")
    return int(match.group(1))


def has_training_state(checkpoint_path: str) -> bool:
    """Whether a checkpoint holds an optimizer (a training run's) or only a model (deeplab-import's)."""
    names = tf.train.load_checkpoint(checkpoint_path).get_variable_to_shape_map()
    return any(name.startswith("optimizer/") for name in names)


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
