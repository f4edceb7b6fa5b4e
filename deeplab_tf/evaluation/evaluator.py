"""Multi-scale + flip inference and the evaluation loop.

``evaluate`` runs over the evaluation dataset with any ``predict_fn(images) ->
logits`` (a Keras model at one or several scales here; a TFLite interpreter
plugs in the same way through ``evaluate_predictions``), crops each
prediction to its image's original size and accumulates a ``ConfusionMatrix``.
Multi-scale inference averages logits over scales and, optionally, the
horizontally flipped input (https://arxiv.org/abs/1706.05587, section 4.1).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from deeplab_tf.artifacts.errors import ArgumentRuntimeError

# checkpoint_step: deeplab-eval and its tests name checkpoints' steps through this module
from deeplab_tf.artifacts.model_dir import ModelDir, checkpoint_step, restore_model  # noqa: F401
from deeplab_tf.configs.base import DataConfig, ModelConfig
from deeplab_tf.data.pipeline import eval_dataset, largest_image
from deeplab_tf.evaluation.metrics import ConfusionMatrix
from deeplab_tf.models.deeplab import build_deeplab

PredictFn = Callable[[tf.Tensor], tf.Tensor]


def scaled_size(size: Sequence[int], scale: float) -> tuple[int, int]:
    """``size`` (height, width) times ``scale``, rounded half up."""
    return tuple(max(1, int(side * scale + 0.5)) for side in size)


def parse_scales(text: str) -> tuple[float, ...]:
    """Parses "0.75,1.0,1.25" into (0.75, 1.0, 1.25).

    Raises:
      ValueError: not positive numbers, or none.
    """
    try:
        scales = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ValueError(f"scales must be comma-separated numbers, got {text!r}") from None
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be positive numbers, got {text!r}")
    return scales


def build_scaled_models(model, model_config: ModelConfig, size: Sequence[int], scales: Iterable[float]) -> dict:
    """One model per scale, built at ``size * scale``, holding the weights of ``model``.

    ``model`` itself is used where its input size is already the scaled size.
    Weights do not depend on the input size, so they are copied as they are.

    Raises:
      ValueError: a scaled size the backbone cannot take.
    """
    model_config = dataclasses.replace(model_config, backbone=dataclasses.replace(model_config.backbone, weights=None))
    weights = None
    models = {}
    for scale in scales:
        target = scaled_size(size, scale)
        if tuple(model.input_shape[1:3]) == target:
            models[scale] = model
            continue
        scaled = build_deeplab(dataclasses.replace(model_config, input_size=target))
        weights = model.get_weights() if weights is None else weights
        scaled.set_weights(weights)
        models[scale] = scaled
    return models


def predict_logits(models_by_scale: dict, images, scales: Sequence[float] = (1.0,), flip: bool = False):
    """Logits averaged over scales (and the flipped input), at the input resolution.

    Args:
      models_by_scale: {scale: Keras model built at the scaled input size}.
      images: float32 [B, H, W, 3], normalized.
      scales: which models to run.
      flip: also run the left-right flipped batch and flip its logits back.

    Returns:
      float32 [B, H, W, C].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    size = tuple(images.shape[1:3])
    total, count = None, 0
    for scale in scales:
        model = models_by_scale[scale]
        target = tuple(model.input_shape[1:3])
        inputs = images if target == size else tf.image.resize(images, target, method="bilinear")
        if flip:
            inputs = tf.concat([inputs, tf.reverse(inputs, [2])], axis=0)
        logits = model(inputs, training=False)
        if flip:
            plain, flipped = tf.split(logits, 2, axis=0)
            logits = plain + tf.reverse(flipped, [2])
        if tuple(logits.shape[1:3]) != size:
            logits = tf.image.resize(logits, size, method="bilinear")
        total = logits if total is None else total + logits
        count += 2 if flip else 1
    return total / count


def make_predict_fn(
    models_by_scale: dict, scales: Sequence[float] = (1.0,), flip: bool = False, input_size: Sequence[int] | None = None
) -> PredictFn:
    """``predict_logits`` bound to its models, compiled as a tf.function
    (traced once for any batch size when ``input_size`` (H, W) is given)."""
    scales = tuple(scales)
    signature = None if input_size is None else [tf.TensorSpec([None, *input_size, 3], tf.float32)]

    @tf.function(input_signature=signature, reduce_retracing=True)
    def predict_fn(images):
        return predict_logits(models_by_scale, images, scales, flip)

    return predict_fn


class StretchPredictor:
    """``predict_fn`` for a model of one fixed input size (a QAT model, like the
    int8 file it becomes): each image's area of the padded batch is stretched to
    the model's input size and its logits are resized back (bilinear), as
    ``deeplab-eval --tflite`` runs an exported file and an app runs it.

    Set ``sizes`` to the (height, width) of each image of the next batch
    (``with_sizes``); without it the whole padded image is stretched.
    """

    def __init__(self, model):
        self.size = tuple(model.input_shape[1:3])
        self.sizes: list[tuple[int, int]] | None = None
        self._model = tf.function(
            lambda images: model(images, training=False), input_signature=[tf.TensorSpec([None, *self.size, 3])]
        )

    def __call__(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        padded = tuple(images.shape[1:3])
        sizes = self.sizes or [padded] * images.shape[0]
        inputs = tf.stack([tf.image.resize(images[i, :h, :w], self.size) for i, (h, w) in enumerate(sizes)])
        logits = self._model(inputs)
        return tf.stack([
            tf.pad(tf.image.resize(logits[i], (h, w)), [[0, padded[0] - h], [0, padded[1] - w], [0, 0]])
            for i, (h, w) in enumerate(sizes)
        ])


def with_sizes(dataset, predictor) -> Iterator[dict]:
    """The batches of ``dataset``, telling ``predictor`` each batch's image sizes first."""
    for batch in dataset:
        predictor.sizes = [(int(h), int(w)) for h, w in zip(batch["height"], batch["width"], strict=True)]
        yield batch


def default_eval_size(data_config: DataConfig, split: str | None = None) -> tuple[int, int]:
    """``data.eval_size``, else the largest image of ``split`` (default the
    evaluation split), which every image then fits. A float DeepLab takes any
    size (its upsampling crops to the input), so no alignment is needed.

    Raises:
      FileNotFoundError: no records of the split.
    """
    if data_config.eval_size:
        return tuple(data_config.eval_size)
    return largest_image(data_config.data_dir, split or data_config.eval_split)


def evaluation_error(error: tf.errors.OpError, size_setting: str = "eval_size") -> RuntimeError:
    """A one-line ``RuntimeError`` for an evaluation that failed inside TensorFlow, with a
    hint to pass a larger ``size_setting`` (the argument or config key that set the
    evaluation size) when an image did not fit it."""
    message = re.sub(r"\{\{[^}]*\}\}\s*", "", error.message.strip().splitlines()[0])
    if "larger than the evaluation size" in message:
        return ArgumentRuntimeError(f"evaluation failed: {message}; pass a larger `{size_setting}`=H,W")
    return RuntimeError(f"evaluation failed: {message}")


def evaluate_predictions(
    predict_fn: PredictFn,
    dataset,
    num_classes: int,
    ignore_label: int,
    class_names=None,
    max_batches: int | None = None,
) -> dict:
    """Runs ``predict_fn`` over ``dataset`` and scores the predictions.

    Args:
      predict_fn: ``images [B, H, W, 3] -> logits [B, H, W, C]`` (tensors or arrays).
      dataset: batches of ``{"image", "label", "height", "width"}`` (``eval_dataset``).
      num_classes, ignore_label: of the labels.
      class_names: names for the report; default ``class_i``.
      max_batches: stop after this many batches.

    Returns:
      ``ConfusionMatrix.result`` plus ``confusion_matrix`` (lists),
      ``num_images``, ``seconds`` and ``images_per_second`` (prediction only;
      the first batch, which traces and compiles, is left out when there are more).

    Raises:
      ValueError: a label that is not a class id or the ignore label, or no batches.
    """
    matrix = ConfusionMatrix(num_classes, ignore_label)
    num_images, timed_images, timed_seconds, first_seconds = 0, 0, 0.0, 0.0
    start = time.perf_counter()
    for index, batch in enumerate(dataset):
        if max_batches is not None and index >= max_batches:
            break
        began = time.perf_counter()
        logits = predict_fn(batch["image"])
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32).numpy()
        elapsed = time.perf_counter() - began
        if index == 0:
            first_seconds = elapsed
        else:
            timed_seconds += elapsed
            timed_images += len(predictions)
        labels = np.asarray(batch["label"])[..., 0]
        heights, widths = np.asarray(batch["height"]), np.asarray(batch["width"])
        for i in range(len(predictions)):
            h, w = int(heights[i]), int(widths[i])
            matrix.update(labels[i, :h, :w], predictions[i, :h, :w])
        num_images += len(predictions)
    if num_images == 0:
        raise ValueError("the evaluation dataset yielded no images")
    if timed_images == 0:
        timed_images, timed_seconds = num_images, first_seconds
    result = matrix.result(class_names)
    result.update(
        confusion_matrix=matrix.matrix.tolist(),
        num_images=num_images,
        seconds=time.perf_counter() - start,
        images_per_second=timed_images / max(timed_seconds, 1e-9),
    )
    return result


def evaluate(
    model,
    model_config: ModelConfig,
    data_config: DataConfig,
    preprocessing,
    eval_size: Sequence[int],
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    max_batches: int | None = None,
    class_names=None,
    split: str | None = None,
) -> dict:
    """Evaluates a Keras DeepLab model on ``data_config``'s evaluation split.

    Args:
      model: the model with its weights (any input size; copies are built per scale).
      model_config: its config (num_classes, backbone...).
      data_config: data_dir, eval_split, batch_size, ignore_label.
      preprocessing: the backbone's ``Preprocessing``.
      eval_size: (height, width) images are padded to; scale 1.0 runs at this size.
      scales: inference scales; logits are averaged.
      flip: also average over the left-right flipped input.
      max_batches: stop after this many batches.
      class_names: names for the report; default ``class_i``.
      split: split to read; default ``data_config.eval_split``.

    Returns:
      The dict of ``evaluate_predictions``, plus ``scales``, ``flip`` and ``eval_size``.

    Raises:
      FileNotFoundError: no records; ValueError: bad labels, sizes or scales.
    """
    eval_size = tuple(eval_size)
    scales = tuple(scales)
    dataset = eval_dataset(data_config, preprocessing, eval_size, split=split)
    models = build_scaled_models(model, model_config, eval_size, scales)
    predict_fn = make_predict_fn(models, scales, flip, eval_size)
    result = evaluate_predictions(
        predict_fn, dataset, model_config.num_classes, data_config.ignore_label, class_names, max_batches
    )
    result.update(scales=list(scales), flip=bool(flip), eval_size=list(eval_size))
    return result


# --- single images (deeplab-predict) ------------------------------------------


def letterbox(image: np.ndarray, size: Sequence[int], pad_pixel) -> tuple[np.ndarray, tuple[int, int]]:
    """Scales an RGB image to fit ``size`` (aspect kept, bilinear) and pads the
    bottom and right with ``pad_pixel``, as evaluation pads.

    Returns:
      (float32 [H, W, 3] image, (height, width) of the image inside it).
    """
    height, width = image.shape[:2]
    scale = min(size[0] / height, size[1] / width)
    inner = (min(size[0], max(1, round(height * scale))), min(size[1], max(1, round(width * scale))))
    resized = tf.image.resize(tf.cast(image, tf.float32), inner, method="bilinear").numpy()
    canvas = np.empty((*size, 3), np.float32)
    canvas[:] = np.asarray(pad_pixel, np.float32)
    canvas[: inner[0], : inner[1]] = resized
    return canvas, inner


def predict_mask(predict_fn: PredictFn, image: np.ndarray, size: Sequence[int], preprocessing) -> np.ndarray:
    """Class ids of one RGB uint8 image at its own size.

    The image is letterboxed into ``size``, normalized and predicted; the
    logits of the image area are resized back (bilinear) before the argmax.

    Returns:
      uint8 (or int32 past 256 classes) [h, w] class ids.
    """
    canvas, inner = letterbox(image, size, preprocessing.mean)
    normalized = (canvas - np.asarray(preprocessing.mean, np.float32)) / np.asarray(preprocessing.std, np.float32)
    logits = predict_fn(tf.constant(normalized[None]))
    logits = tf.convert_to_tensor(logits)[:, : inner[0], : inner[1]]
    logits = tf.image.resize(logits, image.shape[:2], method="bilinear")
    mask = tf.argmax(logits[0], axis=-1, output_type=tf.int32).numpy()
    return mask.astype(np.uint8) if logits.shape[-1] <= 256 else mask


def load_trained_model(model_config: ModelConfig, checkpoint: str, input_size: Sequence[int] | None = None):
    """Builds the model of ``model_config`` at ``input_size`` (default its own)
    and restores the weights of a training checkpoint (no pretrained download).

    Raises:
      ValueError: the checkpoint does not fit the model, or a bad input size.
    """
    size = tuple(input_size or model_config.input_size)
    config = dataclasses.replace(
        model_config, input_size=size, backbone=dataclasses.replace(model_config.backbone, weights=None)
    )
    model = build_deeplab(config)
    restore_model(model, checkpoint)
    return model, config


# --- checkpoints as training writes them -------------------------------------------


def list_checkpoints(model_dir: str) -> list[str]:
    """Checkpoint prefixes in MODEL_DIR/ckpt, oldest first (``ModelDir.list_checkpoints``)."""
    return ModelDir(model_dir).list_checkpoints()


def watch_checkpoints(
    list_fn, evaluate_fn, timeout: float, interval: float, sleep=time.sleep, clock=time.monotonic
) -> int:
    """Calls ``evaluate_fn(path)`` for every path ``list_fn()`` shows for the
    first time, until ``timeout`` seconds pass without one. Returns the count."""
    seen: set[str] = set()
    last_new = clock()
    while True:
        new = [path for path in list_fn() if path not in seen]
        for path in new:
            seen.add(path)
            evaluate_fn(path)
        if new:
            last_new = clock()
        elif clock() - last_new >= timeout:
            return len(seen)
        sleep(max(0.0, min(interval, timeout - (clock() - last_new))))
