"""The weights a new training run starts from (deeplab-train --init_from=MODEL_DIR|SOURCE).

Layers are matched by name; a layer whose weights have other shapes (the classifier of a
model with another class count) keeps its fresh initialization. What was loaded and what was
not is reported, so that a run never starts half-initialized without saying so.
"""

from __future__ import annotations

import dataclasses
import os

import tf_keras as keras

from deeplab_tf.artifacts.model_dir import ModelDir
from deeplab_tf.configs.base import ExperimentConfig
from deeplab_tf.configs.records import load_experiment
from deeplab_tf.data.pipeline import training_images
from deeplab_tf.evaluation.evaluator import load_trained_model
from deeplab_tf.importing import mapping
from deeplab_tf.importing.importer import provenance
from deeplab_tf.importing.sources import read_source
from deeplab_tf.models import build_deeplab, get_backbone_spec
from deeplab_tf.models.backbones.pretrained import copy_same_named_layers
from deeplab_tf.models.batch_norm import folded_batch_norms, unfold_batch_norms


def source_model(init_from: str, config: ExperimentConfig) -> keras.Model:
    """The model whose weights ``init_from`` holds: a model_dir's best (else latest) checkpoint
    in its own experiment's architecture, or released weights imported into ``config``'s
    architecture with the source's class count.

    Raises:
      FileNotFoundError: nothing at ``init_from``, or a model_dir without checkpoints.
      ValueError: see ``read_source`` and ``mapping.assign``.
    """
    if ModelDir(init_from).has_experiment():
        saved = load_experiment(init_from)
        checkpoint = ModelDir(init_from).best_or_latest_checkpoint()
        if checkpoint is None:
            raise FileNotFoundError(f"--init_from {init_from} holds no checkpoint (in best/ or ckpt/)")
        model, _ = load_trained_model(saved.model, checkpoint, config.model.input_size)
        return model
    source = read_source(init_from)
    num_classes = source_classes(source)
    model_config = dataclasses.replace(
        config.model, num_classes=num_classes, backbone=dataclasses.replace(config.model.backbone, weights=None)
    )
    model = build_deeplab(model_config)
    mapping.apply(model, mapping.assign(model, model_config, source))
    return model


def source_classes(source) -> int:
    """The class count of released weights: the output channels of ``logits/semantic``.

    Raises:
      ValueError: the source has no ``logits/semantic`` kernel.
    """
    kernel = source.values.get("logits/semantic/weights")
    if kernel is None:
        raise ValueError(f"{source.path} has no logits/semantic/weights: not a DeepLab segmentation model")
    return int(kernel.shape[0] if source.folded else kernel.shape[-1])


def transfer(model: keras.Model, source: keras.Model) -> dict:
    """Copies the weights of every layer of ``source`` into the layer of ``model`` of the same
    name where all shapes agree (``pretrained.copy_same_named_layers``).

    Returns:
      ``{"loaded": [layer names], "not_loaded": [(layer name, reason)]}``.
    """
    loaded, mismatches = copy_same_named_layers(source, model)
    as_lists = lambda shapes: [list(shape) for shape in shapes]  # noqa: E731
    not_loaded = [
        (name, "no layer of that name in the source")
        if theirs is None
        else (name, f"shapes {as_lists(theirs)} in the source, {as_lists(ours)} here: left freshly initialized")
        for name, theirs, ours in mismatches
    ]
    return {"loaded": loaded, "not_loaded": not_loaded}


def init_from_record(init_from: str) -> dict:
    """What a run started with --init_from records in ``model_dir/init_from.json``: the model_dir
    it started from, or the released weights' provenance (``importer.provenance``)."""
    if ModelDir(init_from).has_experiment():
        return {"init_from": os.path.abspath(init_from), "kind": None}
    return {"init_from": os.path.abspath(init_from), **provenance(init_from, read_source(init_from))}


def initial_weights_fn(init_from: str, config: ExperimentConfig, log=print):
    """``fn(model)`` for ``trainer.train(initial_weights=...)``: loads ``init_from`` into the model
    and logs what was loaded and what was not.

    Raises:
      ValueError: not a single layer could be loaded (another architecture).
    """

    def initialize(model: keras.Model) -> None:
        report = transfer(model, source_model(init_from, config))
        if not report["loaded"]:
            raise ValueError(
                f"--init_from {init_from}: no layer of {model.name} fits the source (another architecture?)"
            )
        log(f"init_from {init_from}: loaded {len(report['loaded'])} layers, {len(report['not_loaded'])} not loaded")
        for name, reason in report["not_loaded"]:
            log(f"  not loaded: {name}: {reason}")
        folded = folded_batch_norms(model)
        if folded:
            batches = config.quant.calibration_batches
            log(
                f"  {len(folded)} batch norms were folded in the source: their statistics from {batches} training batches"
            )
            preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
            unfold_batch_norms(model, folded, training_images(config.data, preprocessing, batches, config.train.seed))

    return initialize
