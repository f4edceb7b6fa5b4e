"""Training throughput: the project's training step timed on synthetic in-memory batches.

The step is ``training.step.make_train_step`` with the experiment's loss
settings, optimizer, schedule and mixed-precision policy, so the figure is
what ``deeplab-train`` gets when its input pipeline keeps up (see
``deeplab-bench data`` for that side). Images and labels are made once, in
memory, at the model's input size.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.modes import ClassWeighting, MixedPrecision
from deeplab_tf.configs.base import ExperimentConfig, to_dict
from deeplab_tf.models import build_deeplab, get_backbone_spec
from deeplab_tf.quantization import quantize_model
from deeplab_tf.training.dilation import native_dilation_supported
from deeplab_tf.training.schedules import WarmupPolynomialDecay
from deeplab_tf.training.step import make_train_step
from deeplab_tf.training.trainer import set_mixed_precision


def synthetic_batch(config: ExperimentConfig, seed: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    """A random batch shaped like the training input of ``config``.

    Images are uniform random pixels normalized as the backbone expects;
    labels are uniform random class ids with the top eighth of each image set
    to the ignore label, as void borders are in real data.

    Returns:
      ``(images float32 [B, H, W, 3], labels int32 [B, H, W, 1])``.
    """
    batch = config.data.batch_size
    height, width = config.model.input_size
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (batch, height, width, 3)).astype(np.float32)
    images = (pixels - np.array(preprocessing.mean, np.float32)) / np.array(preprocessing.std, np.float32)
    labels = rng.integers(0, config.model.num_classes, (batch, height, width, 1)).astype(np.int32)
    labels[:, : height // 8] = config.data.ignore_label
    return tf.constant(images), tf.constant(labels)


def check_benchmark_config(config: ExperimentConfig) -> None:
    """Raises ValueError naming the bad setting (batch size or input size)."""
    if config.data.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {config.data.batch_size}")
    if len(config.model.input_size) != 2 or min(config.model.input_size) < 1:
        raise ValueError(f"input_size must be two positive integers H,W, got {config.model.input_size}")


def build_training_model(config: ExperimentConfig, qat: bool = False) -> keras.Model:
    """The float model of ``config``, or its quantization-aware copy if ``qat``."""
    model = build_deeplab(config.model)
    if not qat:
        return model
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    low = min((0.0 - m) / s for m, s in zip(preprocessing.mean, preprocessing.std, strict=True))
    high = max((255.0 - m) / s for m, s in zip(preprocessing.mean, preprocessing.std, strict=True))
    return quantize_model(model, input_range=(low, high))


def make_benchmark_step(config: ExperimentConfig, qat: bool = False, seed: int = 0) -> Callable[[], float]:
    """Builds the model, optimizer, training step and a synthetic batch of
    ``config``; returns ``run()``, which does one training step and returns its loss.

    ``config.train`` gives the mixed-precision policy (set while building,
    then put back), XLA, weight decay, class weighting (uniform weights when
    they would come from a dataset: the cost is the same) and hard-pixel mining.

    Raises:
      ValueError: bad batch or input size, QAT with mixed precision, or a
        model the config cannot build.
    """
    check_benchmark_config(config)
    train_cfg = config.train
    precision = train_cfg.mixed_precision
    if qat and precision is not MixedPrecision.NONE:
        raise ValueError(
            f"QAT trains in float32 (tfmot's quantizers take no {precision}); set train.mixed_precision to none"
        )
    class_weights = train_cfg.class_weights
    if class_weights is None and train_cfg.class_weighting is not ClassWeighting.NONE:
        class_weights = (1.0,) * config.model.num_classes
    previous_policy = keras.mixed_precision.global_policy()
    set_mixed_precision(precision)
    try:
        keras.utils.set_random_seed(seed)
        model = build_training_model(config, qat)
        schedule = WarmupPolynomialDecay(
            train_cfg.learning_rate, max(train_cfg.train_steps, train_cfg.warmup_steps + 1), train_cfg.warmup_steps
        )
        optimizer = keras.optimizers.SGD(schedule, momentum=train_cfg.momentum)
        if precision.needs_loss_scaling:
            optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    step = make_train_step(
        model,
        optimizer,
        config.data.ignore_label,
        class_weights=class_weights,
        jit_compile=train_cfg.jit_compile,
        weight_decay=train_cfg.weight_decay,
        top_k_fraction=train_cfg.top_k_fraction,
    )
    images, labels = synthetic_batch(config, seed)
    return lambda: float(step(images, labels))


def benchmark_train_step(
    config: ExperimentConfig, steps: int = 10, warmup_steps: int = 3, qat: bool = False, seed: int = 0
) -> dict:
    """Times ``steps`` training steps of ``config`` after ``warmup_steps``
    (see ``make_benchmark_step``), at ``config.data.batch_size`` and
    ``config.model.input_size``.

    Args:
      config: the experiment.
      steps: timed steps; the figure is the median step time.
      warmup_steps: untimed steps first (the first one traces and compiles).
      qat: train the quantization-aware copy of the model instead.
      seed: of the synthetic batch and the initial weights.

    Returns:
      A dict: ``images_per_second`` (batch size / median step time), step
      time statistics, the first step's time (tracing included), and the
      settings used.

    Raises:
      ValueError: bad batch size, input size or step counts, QAT with mixed
        precision, or a model the config cannot build.
    """
    if steps < 1:
        raise ValueError(f"steps to time must be >= 1, got {steps}")
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be >= 1 (the first step traces the graph), got {warmup_steps}")
    run = make_benchmark_step(config, qat, seed)
    times, losses = [], []
    for _ in range(warmup_steps + steps):
        start = time.perf_counter()
        losses.append(run())
        times.append(time.perf_counter() - start)
    timed = times[warmup_steps:]
    median = statistics.median(timed)
    batch, train_cfg = config.data.batch_size, config.train
    return {
        "experiment": config.name,
        "batch_size": batch,
        "input_size": list(config.model.input_size),
        "mixed_precision": train_cfg.mixed_precision,
        "jit_compile": train_cfg.jit_compile,
        "qat": qat,
        "native_dilation": native_dilation_supported(),
        "warmup_steps": warmup_steps,
        "timed_steps": steps,
        "images_per_second": round(batch / median, 3),
        "step_seconds": {"median": round(median, 4), "min": round(min(timed), 4), "max": round(max(timed), 4)},
        "first_step_seconds": round(times[0], 3),
        "loss": {"first": losses[0], "last": losses[-1]},
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "model": to_dict(config.model),
        "train": {
            key: value
            for key, value in dataclasses.asdict(train_cfg).items()
            if key in ("weight_decay", "momentum", "class_weighting", "top_k_fraction", "learning_rate")
        },
    }


def format_train_benchmark(result: dict) -> str:
    """A few lines of text for a ``benchmark_train_step`` result."""
    height, width = result["input_size"]
    seconds = result["step_seconds"]
    flags = [result["mixed_precision"]] + ["qat"] * result["qat"] + ["xla"] * result["jit_compile"]
    return "\n".join(
        [
            f"{result['experiment']}: batch {result['batch_size']}, {height}x{width}, {', '.join(flags)}",
            f"images/s            {result['images_per_second']:.2f}",
            f"step seconds        median {seconds['median']:.3f}  min {seconds['min']:.3f}  max {seconds['max']:.3f}"
            f"  ({result['timed_steps']} timed after {result['warmup_steps']} warm-up)",
            f"first step seconds  {result['first_step_seconds']:.1f} (tracing included)",
        ]
    )
