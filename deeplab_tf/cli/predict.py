"""deeplab-predict: class-id maps and colour overlays for images.

    deeplab-predict --model_dir=DIR --input=IMAGE_OR_DIR --output_dir=DIR
                    [--checkpoint=PATH] [--scales=1.0] [--flip] [--alpha=0.5]

Each image (.jpg, .jpeg, .png) is scaled to fit the model input, padded with
the mean pixel, predicted, and the padding undone. Writes NAME_labels.png
(uint8 class ids at the image's own size) and NAME_overlay.png (class colours
over the image, with a legend of the classes present).
"""

from __future__ import annotations

import os
from collections import Counter

import cv2
import numpy as np
from absl import flags

from deeplab_tf.cli.common import run_main

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Training folder (experiment.json, ckpt/).")
flags.DEFINE_string("checkpoint", None, "Checkpoint prefix; default the newest in MODEL_DIR/ckpt.")
flags.DEFINE_string("input", None, "An image file, or a folder of .jpg/.jpeg/.png images.")
flags.DEFINE_string("output_dir", None, "Where NAME_labels.png and NAME_overlay.png go.")
flags.DEFINE_string("scales", "1.0", "Comma-separated inference scales, e.g. 0.75,1.0,1.25.")
flags.DEFINE_bool("flip", False, "Also average over the left-right flipped image.")
flags.DEFINE_float("alpha", 0.5, "Weight of the class colours in the overlay.", lower_bound=0.0, upper_bound=1.0)
flags.mark_flags_as_required(["model_dir", "input", "output_dir"])

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def list_images(path: str) -> list[str]:
    """``path`` itself, or the images of the folder ``path`` sorted by name.

    Raises:
      FileNotFoundError: no such file or folder, or a folder without images.
    """
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--input {path} is neither an image file nor a folder")
    images = sorted(
        os.path.join(path, name)
        for name in os.listdir(path)
        if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(path, name))
    )
    if not images:
        raise FileNotFoundError(f"--input {path} holds no {'/'.join(IMAGE_EXTENSIONS)} images")
    return images


def output_stems(paths: list[str]) -> list[str]:
    """File names without extension; names shared by two inputs (a.jpg, a.png) keep their extension."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    counts = Counter(stems)
    return [
        stem if counts[stem] == 1 else os.path.basename(p).replace(".", "_")
        for stem, p in zip(stems, paths, strict=True)
    ]


def read_rgb(path: str) -> np.ndarray:
    """RGB uint8 [H, W, 3] (grey and RGBA images converted).

    Raises:
      ValueError: not a decodable image.
    """
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path} cannot be decoded as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def main(argv):
    del argv
    from deeplab_tf.artifacts.model_dir import ModelDir
    from deeplab_tf.configs.records import load_experiment
    from deeplab_tf.evaluation.evaluator import (
        build_scaled_models,
        load_trained_model,
        make_predict_fn,
        parse_scales,
        predict_mask,
    )
    from deeplab_tf.evaluation.report import class_names_and_colors, overlay, write_png
    from deeplab_tf.models import get_backbone_spec

    scales = parse_scales(FLAGS.scales)
    images = list_images(FLAGS.input)
    config = load_experiment(FLAGS.model_dir)
    checkpoint = FLAGS.checkpoint or ModelDir(FLAGS.model_dir).require_checkpoint()
    if not os.path.exists(f"{checkpoint}.index"):
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist (no {checkpoint}.index)")
    size = tuple(config.model.input_size)
    model, model_config = load_trained_model(config.model, checkpoint, size)
    predict_fn = make_predict_fn(build_scaled_models(model, model_config, size, scales), scales, FLAGS.flip, size)
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    names, colormap = class_names_and_colors(config.data.dataset, config.model.num_classes, config.data.data_dir)

    failed = []
    for path, stem in zip(images, output_stems(images), strict=True):
        try:
            image = read_rgb(path)
        except ValueError as error:
            failed.append(path)
            print(f"skipped: {error}", flush=True)
            continue
        mask = predict_mask(predict_fn, image, size, preprocessing)
        write_png(os.path.join(FLAGS.output_dir, f"{stem}_labels.png"), mask)
        write_png(
            os.path.join(FLAGS.output_dir, f"{stem}_overlay.png"), overlay(image, mask, colormap, FLAGS.alpha, names)
        )
        present = ", ".join(names[c] for c in np.unique(mask))
        print(f"{path}: {image.shape[0]}x{image.shape[1]}, classes: {present}", flush=True)
    if failed:
        raise ValueError(f"{len(failed)} of {len(images)} input(s) could not be read: {', '.join(failed)}")


def run():
    run_main(main)


if __name__ == "__main__":
    run()
