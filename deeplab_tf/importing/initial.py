"""The weights a new training run starts from (deeplab-train --init_from=MODEL_DIR|SOURCE).

Layers are matched by name; a layer whose weights have other shapes (the classifier of a
model with another class count) keeps its fresh initialization. Released weights of a backbone
alone (the model zoo's ImageNet checkpoints: no ``logits/semantic``) set every backbone layer by
its original name and leave the ASPP, decoder and logits fresh. What was loaded and what was
not is reported, so that a run never starts half-initialized without saying so.
"""

from __future__ import annotations

import dataclasses
import os

import tf_keras as keras

from deeplab_tf.artifacts.errors import ArgumentFileNotFoundError, ArgumentValueError
from deeplab_tf.artifacts.model_dir import ModelDir
from deeplab_tf.configs.base import ExperimentConfig
from deeplab_tf.configs.records import load_experiment
from deeplab_tf.data.pipeline import training_images
from deeplab_tf.evaluation.evaluator import load_trained_model
from deeplab_tf.importing import mapping
from deeplab_tf.importing.importer import provenance
from deeplab_tf.importing.sources import Source, read_source
from deeplab_tf.models import build_deeplab, get_backbone_spec
from deeplab_tf.models.backbones.pretrained import copy_same_named_layers
from deeplab_tf.models.batch_norm import folded_batch_norms, unfold_batch_norms


@dataclasses.dataclass(frozen=True)
class InitFrom:
    """What ``--init_from`` names, read once.

    Attributes:
      path: as given.
      source: the released weights read from ``path``; None for a deeplab_tf model_dir.
    """

    path: str
    source: Source | None = None

    @property
    def backbone_only(self) -> bool:
        """Released weights of a backbone alone (no ``logits/semantic``: the model zoo's ImageNet checkpoints)."""
        return self.source is not None and mapping.segmentation_classes(self.source) is None


def read_init_from(path: str) -> InitFrom:
    """Reads ``--init_from=PATH``: a model_dir (its checkpoint is read when used), or released weights.

    Raises:
      FileNotFoundError, ValueError: see ``read_source``.
    """
    if ModelDir(path).has_experiment():
        return InitFrom(path)
    return InitFrom(path, read_source(path))


def source_model(init: InitFrom, config: ExperimentConfig) -> keras.Model:
    """The model whose weights ``init`` holds: a model_dir's best (else latest) checkpoint in its
    own experiment's architecture, or a released segmentation model imported into ``config``'s
    architecture with the source's class count.

    Raises:
      FileNotFoundError: a model_dir without checkpoints.
      ValueError: weights of a backbone alone (``load_backbone`` takes them); see ``mapping.assign``.
    """
    if init.source is None:
        saved = load_experiment(init.path)
        checkpoint = ModelDir(init.path).best_or_latest_checkpoint()
        if checkpoint is None:
            raise ArgumentFileNotFoundError(f"`init_from`={init.path} holds no checkpoint (in best/ or ckpt/)")
        model, _ = load_trained_model(saved.model, checkpoint, config.model.input_size)
        return model
    num_classes = mapping.segmentation_classes(init.source)
    if num_classes is None:
        raise ValueError(f"{init.path} has no {mapping.LOGITS_SCOPE}/weights: not a DeepLab segmentation model")
    model_config = dataclasses.replace(
        config.model, num_classes=num_classes, backbone=dataclasses.replace(config.model.backbone, weights=None)
    )
    model = build_deeplab(model_config)
    mapping.apply(model, mapping.assign(model, model_config, init.source))
    return model


def load_backbone(model: keras.Model, config: ExperimentConfig, source: Source) -> dict:
    """Sets every backbone layer of ``model`` from ``source``, weights of the backbone alone, by the
    original names (``mapping.assign_backbone``); the ASPP, decoder and logits keep their fresh
    initialization.

    Returns:
      ``{"loaded": [layer names], "not_loaded": [(layer name, reason)], "not_used": [(source
      variable, reason)]}`` (not used: what no backbone layer takes, such as an ImageNet classifier,
      and the training state).

    Raises:
      ValueError: see ``mapping.assign_backbone``.
    """
    assignment = mapping.assign_backbone(model, config.model, source)
    mapping.apply(model, assignment)
    not_loaded = [
        (layer.name, "not in the source (weights of the backbone alone): freshly initialized")
        for layer in model.layers
        if layer.weights and layer.name not in assignment.values
    ]
    not_used = [
        (name, f"shape {list(source.values[name].shape)}: no layer of backbone {config.model.backbone.name} takes it")
        for name in sorted(set(source.values) - assignment.used)
    ]
    not_used += [(name, "not a weight of the network (training state)") for name in source.ignored]
    return {"loaded": list(assignment.values), "not_loaded": not_loaded, "not_used": not_used}


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


def init_from_record(init: InitFrom) -> dict:
    """What a run started with --init_from records in ``model_dir/init_from.json``: the model_dir
    it started from, or the released weights' provenance (``importer.provenance``)."""
    if init.source is None:
        return {"init_from": os.path.abspath(init.path), "kind": None}
    return {"init_from": os.path.abspath(init.path), **provenance(init.path, init.source)}


def initial_weights_fn(init: InitFrom, config: ExperimentConfig, log=print):
    """``fn(model)`` for ``trainer.train(initial_weights=...)``: loads ``init`` into the model and
    logs what was loaded and what was not (and, for a backbone alone, which source variables were
    not used).

    Raises:
      ValueError: not a single layer could be loaded (another architecture).
    """

    def initialize(model: keras.Model) -> None:
        if init.backbone_only:
            report = load_backbone(model, config, init.source)
        else:
            report = transfer(model, source_model(init, config))
        if not report["loaded"]:
            raise ArgumentValueError(
                f"`init_from`={init.path}: no layer of {model.name} fits the source (another architecture?)"
            )
        log(f"init_from {init.path}: loaded {len(report['loaded'])} layers, {len(report['not_loaded'])} not loaded")
        for name, reason in report["not_loaded"]:
            log(f"  not loaded: {name}: {reason}")
        for name, reason in report.get("not_used", []):
            log(f"  not used: {name}: {reason}")
        folded = folded_batch_norms(model)
        if folded:
            batches = config.quant.calibration_batches
            log(
                f"  {len(folded)} batch norms were folded in the source: their statistics from {batches} training batches"
            )
            preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
            unfold_batch_norms(model, folded, training_images(config.data, preprocessing, batches, config.train.seed))

    return initialize
