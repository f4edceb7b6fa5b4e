"""Released weights -> an ordinary model_dir (experiment.json + a checkpoint), all or nothing.

    model_dir/
      experiment.json      the experiment, as deeplab-train writes it
      ckpt/ckpt-0.*        the imported weights (the model only: no optimizer state)
      import.json          where the weights came from: path, kind, SHA-256, what was used

deeplab-eval, -export, -predict read it like a trained run; deeplab-train continues from it
(step 0, a fresh optimizer) or starts another run from it with --init_from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile

from deeplab_tf.artifacts.model_dir import CHECKPOINTS, IMPORT_FILE, ModelDir  # noqa: F401  (IMPORT_FILE: its record)
from deeplab_tf.configs.base import ExperimentConfig
from deeplab_tf.configs.records import save_experiment
from deeplab_tf.importing import mapping
from deeplab_tf.importing.sources import read_source
from deeplab_tf.models import build_deeplab

# The released DeepLab weights (research/deeplab model zoo, the TFLite demo models) are Apache-2.0.
RELEASED_LICENSE = "Apache-2.0"


def import_weights(source_path: str, config: ExperimentConfig, model_dir: str) -> dict:
    """Reads ``source_path``, sets every weight of ``config``'s model from it and writes ``model_dir``.

    ``model_dir`` is written under a temporary name beside it and renamed when complete: a failed
    import leaves nothing behind, and an existing non-empty ``model_dir`` is never touched.

    Returns:
      The record written to ``model_dir/import.json``.

    Raises:
      FileExistsError: ``model_dir`` exists and is not empty.
      FileNotFoundError, ValueError: see ``read_source``; ``mapping.ImportMismatch`` (a ValueError)
        when source and model do not pair one to one; a shape mismatch naming both tensors; a
        source without a classifier (a backbone alone: for ``deeplab-train --init_from``).
    """
    import tensorflow as tf

    model_dir = os.path.abspath(model_dir)
    if os.path.isdir(model_dir) and os.listdir(model_dir):
        raise FileExistsError(f"model_dir {model_dir} exists and is not empty; import into a new folder")
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise FileExistsError(f"model_dir {model_dir} is a file")
    source = read_source(source_path)
    if mapping.segmentation_classes(source) is None:
        raise ValueError(
            f"{source_path} has no {mapping.LOGITS_SCOPE} classifier: the weights of a backbone alone (such as "
            "the model zoo's ImageNet checkpoints), not a DeepLab segmentation model, which deeplab-import takes "
            f"whole. Start a training run from it instead: deeplab-train --init_from={source_path} "
            "--experiment=NAME --model_dir=DIR (the backbone loads, the ASPP, decoder and logits start fresh)"
        )
    model_config = dataclasses.replace(config.model, backbone=dataclasses.replace(config.model.backbone, weights=None))
    model = build_deeplab(model_config)
    assignment = mapping.assign(model, model_config, source)
    mapping.apply(model, assignment)

    record = {
        **provenance(source_path, source),
        "experiment": config.name,
        "batch_norm": "folded into the convolutions: imported as identity batch norms" if source.folded else "as saved",
        "variables_used": len(assignment.used),
        "variables_ignored": list(source.ignored),
        "derived": assignment.derived,
    }
    parent = os.path.dirname(model_dir)
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=f".{os.path.basename(model_dir)}.importing-", dir=parent)
    try:
        save_experiment(temp, config)
        manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(model=model), ModelDir(temp).checkpoint_dir(CHECKPOINTS), max_to_keep=1
        )
        manager.save(checkpoint_number=0)
        ModelDir(temp).write_import_record(record)
        os.chmod(temp, 0o755)  # mkdtemp makes it 0700
        if os.path.isdir(model_dir):
            os.rmdir(model_dir)  # empty (checked above)
        os.replace(temp, model_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return record


def provenance(source_path: str, source) -> dict:
    """Where released weights come from: ``{"source" (absolute path), "kind", "member", "sha256",
    "license"}`` (what import.json and a run's init_from.json record, and model cards show)."""
    return {
        "source": os.path.abspath(source_path),
        "kind": source.kind,
        "member": source.member,
        "sha256": _sha256(source_path, source.kind),
        "license": RELEASED_LICENSE,
    }


def _sha256(path: str, kind: str) -> str | None:
    """The digest of the file read (a checkpoint's .index: its data files are named by it)."""
    file = f"{path}.index" if kind == "tf1_checkpoint" else path
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
