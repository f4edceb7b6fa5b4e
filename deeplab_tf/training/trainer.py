"""The training loop: distributed, checkpointed, exactly resumable.

Resume is exact: the model, optimizer (momentum, step) and the data position
are restored, and the input stream is a pure function of (seed, record index),
so a run killed at any step and restarted continues as if never stopped.
SIGTERM saves a checkpoint before exiting; a NaN or Inf loss stops training
without touching the last good checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import signal
import tempfile
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.errors import ArgumentValueError
from deeplab_tf.artifacts.model_dir import BEST, CHECKPOINTS, ModelDir, has_training_state
from deeplab_tf.artifacts.modes import ClassWeighting, MixedPrecision
from deeplab_tf.configs.base import ExperimentConfig, to_dict
from deeplab_tf.configs.records import load_experiment, save_experiment
from deeplab_tf.data.pipeline import eval_dataset, list_record_files, train_dataset, training_images
from deeplab_tf.data.registry import recorded_dataset
from deeplab_tf.evaluation import evaluator
from deeplab_tf.evaluation.evaluator import default_eval_size
from deeplab_tf.evaluation.report import class_names_and_colors, comparison_strip
from deeplab_tf.models import build_deeplab, get_backbone_spec
from deeplab_tf.models.batch_norm import folded_batch_norms, unfold_batch_norms
from deeplab_tf.quantization import finetune
from deeplab_tf.training.losses import median_frequency_weights
from deeplab_tf.training.schedules import WarmupPolynomialDecay
from deeplab_tf.training.step import make_train_step

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf."""


def get_strategy(name: str = "default", tpu: str = "") -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name``.

    Raises:
      ValueError: unknown name (the message lists the valid ones).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()  # cluster from TF_CONFIG
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown distribution strategy {name!r}; one of {', '.join(STRATEGIES)}")


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def set_mixed_precision(mode: MixedPrecision) -> None:
    """Sets the Keras global dtype policy of ``mode`` (float32 for none)."""
    keras.mixed_precision.set_global_policy(mode.keras_policy)


def check_model_dir(model_dir: str, config: ExperimentConfig, qat: bool = False) -> None:
    """Refuses a model_dir that belongs to another model; nothing is overwritten.

    Raises:
      ValueError: the saved experiment's model differs (architecture, classes, size),
        or float training would resume a QAT fine-tuning.
    """
    run = ModelDir(model_dir)
    if not run.has_experiment():
        return
    origin = run.qat_origin()
    if origin is not None and not qat:
        raise ArgumentValueError(
            f"model_dir {model_dir} holds QAT of {origin['float_model_dir']}; resume it with "
            f"`qat_from`={origin['float_model_dir']}"
        )
    saved = load_experiment(model_dir)
    if saved.model != config.model:
        old, new = to_dict(saved.model), to_dict(config.model)
        diff = [f"{key}: {old[key]} -> {new[key]}" for key in new if old.get(key) != new[key]]
        raise ArgumentValueError(
            f"model_dir {model_dir} holds a checkpoint of another model ({'; '.join(diff)}); "
            "use a new `model_dir` or the same experiment"
        )


class _Stop:
    """Set by SIGTERM/SIGINT: finish the step, checkpoint, exit."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _random_generators(model) -> dict:
    """The tf.random.Generator of each random layer (dropout), created now so
    that it can go into the checkpoint: Keras leaves it out, and without it a
    resumed run would draw other dropout masks."""
    generators = {}
    for layer in model.layers:
        rng = getattr(getattr(layer, "layer", layer), "_random_generator", None)  # also inside a QAT wrapper
        if rng is None:
            continue
        rng._maybe_init()
        if getattr(rng, "_generator", None) is not None:
            generators[layer.name] = rng._generator
    return generators


def _all_finite(model) -> bool:
    floats = [w for w in model.weights if w.dtype.is_floating]  # not a QAT model's int32 step counters
    return bool(tf.reduce_all([tf.reduce_all(tf.math.is_finite(w)) for w in floats]))


def train(
    config: ExperimentConfig,
    model_dir: str,
    strategy: tf.distribute.Strategy | None = None,
    deterministic: bool = True,
    stop_at_step: int | None = None,
    qat_from: str | None = None,
    initial_weights: Callable[[keras.Model], None] | None = None,
) -> dict:
    """Trains ``config`` into ``model_dir``, resuming from its last checkpoint.

    Args:
      config: the experiment (data.data_dir must point at TFRecords).
      model_dir: where experiment.json, checkpoints and TensorBoard events go.
      strategy: a ``tf.distribute`` strategy (default: the default one).
      deterministic: deterministic input order (needed for exact resume).
      stop_at_step: stop (with a checkpoint) at this step, before train_steps;
        for tests and time-boxed runs.
      qat_from: a float run's model_dir: fine-tune its model quantization-aware
        instead (``deeplab_tf.quantization.finetune``: quant.train_steps and
        quant.learning_rate, activation ranges calibrated on training batches first).
      initial_weights: ``fn(model)`` setting the weights a new run starts from
        (``deeplab_tf.importing.initial``); not called when resuming.

    Returns:
      ``{"step", "loss", "images_per_second", "best"}``.

    Raises:
      ValueError: model_dir of another model, bad config, qat_from of another architecture.
      FileNotFoundError: no training records; qat_from without experiment.json or checkpoint.
      NonFiniteLossError: NaN/Inf loss (the last good checkpoint stays).
    """
    with _keras_tf_random_generator():
        return _train(config, model_dir, strategy, deterministic, stop_at_step, qat_from, initial_weights)


@contextlib.contextmanager
def _keras_tf_random_generator():
    """Keras layers draw from tf.random.Generator (checkpointable, so resume is exact) inside,
    and the process's previous setting comes back after: a model built later with
    ``set_random_seed`` gets the same weights whether or not a training ran before."""
    enabled = keras.backend.experimental.is_tf_random_generator_enabled()
    keras.backend.experimental.enable_tf_random_generator()
    try:
        yield
    finally:
        if not enabled:
            keras.backend.experimental.disable_tf_random_generator()


def _train(config, model_dir, strategy, deterministic, stop_at_step, qat_from, initial_weights) -> dict:
    strategy = strategy or tf.distribute.get_strategy()
    config = resolve_class_weights(config)
    qat_origin = None
    if qat_from is not None:
        config = finetune.qat_experiment(config)
        qat_origin = finetune.check_qat_model_dir(model_dir, finetune.check_float_model_dir(qat_from, config))
    train_cfg, data = config.train, config.data
    check_model_dir(model_dir, config, qat=qat_origin is not None)
    list_record_files(data.data_dir, data.train_split)  # fail early, before building anything
    check_dataset_classes(config)
    set_mixed_precision(train_cfg.mixed_precision)
    chief = _is_chief(strategy)
    os.makedirs(model_dir, exist_ok=True)
    run = ModelDir(model_dir)
    if chief:
        save_experiment(model_dir, config, qat_origin)
    # Every worker saves (the save is collective under MultiWorkerMirroredStrategy) and every
    # worker resumes from the chief's checkpoints; the others write to a temporary folder,
    # removed when the training loop ends.
    ckpt_dir = run.checkpoint_dir(CHECKPOINTS)
    worker_dir = None if chief else tempfile.TemporaryDirectory(prefix="deeplab-worker-ckpt-")

    keras.utils.set_random_seed(train_cfg.seed)
    with strategy.scope():
        if qat_origin is None:
            model = build_deeplab(config.model)
        else:  # float weights, unless a QAT checkpoint is about to replace them
            resuming = tf.train.latest_checkpoint(ckpt_dir) is not None
            model = finetune.build_qat_model(config, None if resuming else qat_origin["float_checkpoint"])
        rng = _random_generators(model)
        schedule = WarmupPolynomialDecay(
            train_cfg.learning_rate, train_cfg.train_steps, train_cfg.warmup_steps, train_cfg.decay_power
        )
        optimizer = keras.optimizers.SGD(schedule, momentum=train_cfg.momentum)
        if train_cfg.mixed_precision.needs_loss_scaling:
            optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, rng=rng)
        save_dir = ckpt_dir if chief else worker_dir.name
        manager = tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=train_cfg.keep_checkpoints)
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if latest:
            # deeplab-import writes the model alone: training starts from it at step 0
            imported = not has_training_state(latest)
            restored = tf.train.Checkpoint(model=model) if imported else checkpoint
            try:
                restored.restore(latest).assert_existing_objects_matched()
            except (AssertionError, ValueError) as error:
                raise ValueError(f"checkpoint {latest} does not fit this model: {error}") from None
            folded = folded_batch_norms(model) if imported else []
            if folded:  # an imported .tflite's, which training mode would rescale
                preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
                images = training_images(config.data, preprocessing, config.quant.calibration_batches, train_cfg.seed)
                unfold_batch_norms(model, folded, images)
        elif qat_origin is not None:
            finetune.calibrate_on_training_data(model, config)
        elif initial_weights is not None:
            initial_weights(model)
    step = int(optimizer.iterations.numpy())
    start_step = step

    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing

    def dataset_fn(context):
        consumed = step * data.batch_size // context.num_input_pipelines  # this pipeline's records so far
        return train_dataset(data, preprocessing, context, train_cfg.seed, deterministic, consumed)

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    train_step = make_train_step(
        model,
        optimizer,
        data.ignore_label,
        train_cfg.class_weights,
        train_cfg.jit_compile,
        top_k_fraction=train_cfg.top_k_fraction,
        weight_decay=train_cfg.weight_decay,
        strategy=strategy,
    )

    writer = tf.summary.create_file_writer(run.events_dir("train")) if chief else tf.summary.create_noop_writer()
    eval_writer = tf.summary.create_file_writer(run.events_dir("eval")) if chief else None
    last_stop = stop_at_step if stop_at_step is not None else train_cfg.train_steps
    best = run.read_best()
    loss_value, rate, window_start, window_steps = float("nan"), 0.0, time.perf_counter(), 0
    with _Stop() as stop, writer.as_default(), worker_dir or contextlib.nullcontext():
        while step < last_stop:
            batch = next(iterator)
            loss_value = float(train_step(batch["image"], batch["label"]))
            if not math.isfinite(loss_value):
                raise NonFiniteLossError(
                    f"loss became {loss_value} at step {step + 1}; stopped without saving, the last good "
                    f"checkpoint is {manager.latest_checkpoint}. Lower train.learning_rate or check the labels."
                )
            step += 1
            window_steps += 1
            if step % train_cfg.log_every == 0 or step == last_stop:
                elapsed = time.perf_counter() - window_start
                rate = window_steps * data.batch_size / max(elapsed, 1e-9)
                lr = float(schedule(step))
                tf.summary.scalar("loss", loss_value, step=step)
                tf.summary.scalar("learning_rate", lr, step=step)
                tf.summary.scalar("images_per_second", rate, step=step)
                eta = (train_cfg.train_steps - step) * data.batch_size / max(rate, 1e-9)
                if chief:
                    print(
                        f"step {step}/{train_cfg.train_steps}  loss {loss_value:.4f}  lr {lr:.5f}  "
                        f"{rate:.2f} img/s  ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}",
                        flush=True,
                    )
                window_start, window_steps = time.perf_counter(), 0
            at_checkpoint = step % train_cfg.checkpoint_every == 0 or step == last_stop or stop.requested
            if at_checkpoint:
                if not _all_finite(model):
                    raise NonFiniteLossError(
                        f"weights became NaN or Inf by step {step}; stopped without saving, the last good "
                        f"checkpoint is {manager.latest_checkpoint}. Lower train.learning_rate."
                    )
                manager.save(checkpoint_number=step)
            if chief and _should_eval(train_cfg, step, at_checkpoint, last_stop):
                best = _evaluate_and_keep_best(
                    model, config, model_dir, step, best, eval_writer, fixed_size=qat_origin is not None
                )
            if stop.requested:
                print(f"stopped by signal at step {step}; checkpoint saved", flush=True)
                break
    writer.flush()
    return {
        "step": step,
        "start_step": start_step,
        "loss": loss_value,
        "images_per_second": rate,
        "best": best,
        "stopped_by_signal": stop.requested,
    }


def resolve_class_weights(config: ExperimentConfig) -> ExperimentConfig:
    """Fills train.class_weights from train.class_weighting.

    "median_frequency" reads the training split's class pixel counts from the
    dataset.json that deeplab-convert wrote beside the records.

    Raises:
      ValueError: unknown weighting, or counts missing or of the wrong length.
    """
    import json

    if config.train.class_weights is not None or config.train.class_weighting is ClassWeighting.NONE:
        return config
    path = os.path.join(config.data.data_dir or "", "dataset.json")
    try:
        with open(path, encoding="utf-8") as handle:
            split = json.load(handle)["summary"]["splits"][config.data.train_split]
        counts = list(split["class_pixels"].values())
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"median_frequency weighting needs class pixel counts in {path}: {error}") from None
    if len(counts) != config.model.num_classes:
        raise ValueError(f"{path} counts {len(counts)} classes, the model has {config.model.num_classes}")
    weights = tuple(round(w, 6) for w in median_frequency_weights(counts))
    return dataclasses.replace(config, train=dataclasses.replace(config.train, class_weights=weights))


def _should_eval(train_cfg, step, at_checkpoint, last_step) -> bool:
    if train_cfg.eval_every < 0:
        return False
    if train_cfg.eval_every > 0:
        return step % train_cfg.eval_every == 0 or step == last_step
    return at_checkpoint


def check_dataset_classes(config: ExperimentConfig) -> None:
    """Refuses a model whose class count differs from the one deeplab-convert
    recorded in ``data_dir/dataset.json`` (no file: nothing to check).

    Raises:
      ValueError: naming both counts and the override that fits the records.
    """

    recorded = recorded_dataset(config.data.data_dir)
    if recorded is not None and recorded.num_classes != config.model.num_classes:
        raise ArgumentValueError(
            f"the records in {config.data.data_dir} have {recorded.num_classes} classes (dataset.json, "
            f"{recorded.name!r}), the model has model.num_classes={config.model.num_classes}; pass "
            f"`model.num_classes`={recorded.num_classes} or the experiment of that dataset"
        )


@functools.lru_cache(maxsize=8)
def _eval_size(data) -> tuple[int, int]:
    return default_eval_size(data)


def _evaluate_and_keep_best(model, config, model_dir, step, best, writer, fixed_size: bool = False):
    """Validates on data.eval_split (if it has records), writes mIoU and
    prediction overlays to ``writer`` (model_dir/eval) and keeps the best
    checkpoint by mIoU.

    Images are padded to data.eval_size, else to the split's largest image. A
    model of one fixed input size (``fixed_size``: QAT) sees each image stretched
    to that size, its logits resized back, as its int8 export is run.

    Raises:
      RuntimeError: the evaluation failed inside TensorFlow (one line, with a hint).
    """
    data = config.data
    try:
        list_record_files(data.data_dir, data.eval_split)
    except FileNotFoundError:
        return best
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    eval_size = _eval_size(data)
    names, colors = class_names_and_colors(data.dataset, config.model.num_classes, data.data_dir)
    if fixed_size:
        predict_fn = evaluator.StretchPredictor(model)

        def batches():
            return evaluator.with_sizes(eval_dataset(data, preprocessing, eval_size), predict_fn)
    else:
        models = evaluator.build_scaled_models(model, config.model, eval_size, (1.0,))
        predict_fn = evaluator.make_predict_fn(models, input_size=eval_size)

        def batches():
            return eval_dataset(data, preprocessing, eval_size)

    try:
        result = evaluator.evaluate_predictions(
            predict_fn, batches(), config.model.num_classes, data.ignore_label, names
        )
        strips = prediction_strips(predict_fn, batches(), preprocessing, colors)
    except tf.errors.OpError as error:
        raise evaluator.evaluation_error(error, "data.eval_size") from None
    miou = float(result["miou"])
    with writer.as_default():
        tf.summary.scalar("val/miou", miou, step=step)
        tf.summary.image("val/predictions", strips, step=step, max_outputs=len(strips))
    writer.flush()
    print(f"step {step}  val mIoU {miou:.4f}", flush=True)
    if best is None or miou > best["miou"]:
        best_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(model=model), ModelDir(model_dir).checkpoint_dir(BEST), max_to_keep=1
        )
        best_manager.save(checkpoint_number=step)
        best = {"step": step, "miou": miou, "per_class_iou": result.get("per_class_iou")}
        ModelDir(model_dir).write_best(best)
    return best


def prediction_strips(predict_fn, batches, preprocessing, colors, count: int = 3) -> np.ndarray:
    """The first ``count`` images of ``batches`` (``eval_dataset``) as ``report.comparison_strip``s
    (image | ground truth | prediction of ``predict_fn``, class colours), at the padded size:
    uint8 [count, H, 3 * W + gaps, 3]. The padding stays uncoloured."""

    mean, std = np.float32(preprocessing.mean), np.float32(preprocessing.std)
    strips = []
    for batch in batches:
        predictions = tf.argmax(predict_fn(batch["image"]), axis=-1).numpy()
        pixels = np.clip(np.round(batch["image"].numpy() * std + mean), 0, 255).astype(np.uint8)
        for i in range(len(predictions)):
            height, width = int(batch["height"][i]), int(batch["width"][i])
            predictions[i, height:], predictions[i, :, width:] = len(colors), len(colors)  # no colour
            strips.append(comparison_strip(pixels[i], batch["label"][i].numpy(), predictions[i], colors))
        if len(strips) >= count:
            break
    return np.stack(strips[:count])


def config_for_run(config: ExperimentConfig, data_dir: str | None) -> ExperimentConfig:
    """``config`` with ``data.data_dir`` set when given."""
    if data_dir:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, data_dir=data_dir))
    return config
