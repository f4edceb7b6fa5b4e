"""deeplab-eval --tflite: the exported file's mIoU in the LiteRT interpreter agrees with
the Keras evaluation of the same model; images are stretched to the model's input
and the output resized back; classes and normalization come from the card."""

import dataclasses
import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_records
from test_eval_predict import run_cli
from test_export import keras_model, make_model_dir

from deeplab_tf.configs.records import load_experiment
from deeplab_tf.data.pipeline import eval_dataset
from deeplab_tf.evaluation.evaluator import evaluate
from deeplab_tf.evaluation.metrics import ConfusionMatrix
from deeplab_tf.evaluation.tflite import describe_tflite, evaluate_tflite_file
from deeplab_tf.export.export import ExportOptions, export_model
from deeplab_tf.export.serving_graph import probabilities_fn
from deeplab_tf.models.backbones.base import MINUS_ONE_TO_ONE

CLASS_NAMES = ["background", "disc", "ring", "square", "triangle", "cross"]
# Float32 TFLite against the Keras evaluation, both at the model's size: pixels whose class
# differs and the mIoU difference. The scores export resizes the probabilities of the logits
# (export.serving_graph.probabilities_fn), Keras evaluation takes the argmax of the resized logits:
# they differ only where two classes are nearly tied at a boundary (measured 0.20% of
# pixels; 0 before the softmax moved). The mask export (--mask_argmax=full) argmaxes the resized logits.
MAX_PIXEL_DISAGREEMENT, MAX_MIOU_DIFF = 0.005, 0.01
# With resizing, against a Keras re-implementation of stretch + resize back (measured 0).
MAX_RESIZED_DISAGREEMENT = 0.005


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A model_dir, val records at the model's size and at other sizes, and three exports."""
    root = tmp_path_factory.mktemp("eval_tflite")
    data_dir = write_records(root / "records", "val", shards=2, per_shard=4, size=(65, 65), classes=6, seed=1)
    write_records(root / "resized", "val", shards=1, per_shard=2, size=(40, 56), classes=6, seed=2)
    write_records(root / "resized", "val", shards=2, per_shard=1, size=(90, 70), classes=6, seed=3)
    model_dir = make_model_dir(root / "model", data_dir)
    files = {}
    for name, input_dtype, output in (("scores", "uint8", "scores"), ("mask", "float32", "mask")):
        # The mask's argmax at full size: the same classes as the scores' (the default, at
        # half size with 2x2 copies, is compared with them in tests/export/test_tflite.py).
        options = ExportOptions(
            quantization="none", input_dtype=input_dtype, output=output, name=name, mask_argmax="full"
        )
        files[name] = export_model(str(model_dir), str(root / "out"), options)["files"]["model"]
    return {"root": root, "model_dir": model_dir, "data_dir": data_dir, "resized": root / "resized", **files}


def disagreement(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).sum() / 2 / a.sum()


def test_cli_agrees_with_the_keras_evaluation(exported):
    result = run_cli("eval", f"--tflite={exported['scores']}", f"--data_dir={exported['data_dir']}", "--split=val")
    assert result.returncode == 0, result.stderr
    assert "mIoU" in result.stdout and all(name in result.stdout for name in CLASS_NAMES)
    out = exported["root"] / "out"
    report = json.loads((out / "scores_eval_val.json").read_text())
    assert (out / "scores_eval_val_confusion.png").exists() and (out / "scores_eval_val_iou.png").exists()
    assert report["class_names"] == CLASS_NAMES and report["quantization"] == "none"
    assert report["input"]["dtype"] == "uint8" and report["output"]["kind"] == "scores"

    config = load_experiment(str(exported["model_dir"]))
    data = dataclasses.replace(config.data, data_dir=str(exported["data_dir"]))
    expected = evaluate(
        keras_model(exported["model_dir"], "best/ckpt-1"), config.model, data, MINUS_ONE_TO_ONE, (65, 65)
    )
    assert report["num_images"] == expected["num_images"] == 8
    assert report["num_pixels"] == expected["num_pixels"]
    assert disagreement(report["confusion_matrix"], expected["confusion_matrix"]) <= MAX_PIXEL_DISAGREEMENT
    assert abs(report["miou"] - expected["miou"]) <= MAX_MIOU_DIFF
    assert len(np.nonzero(np.diag(expected["confusion_matrix"]))[0]) > 1  # more than one class predicted right


def test_mask_output_with_float_input_scores_as_the_scores_output(exported):
    scores, _ = evaluate_tflite_file(exported["scores"], str(exported["data_dir"]))
    mask, _ = evaluate_tflite_file(exported["mask"], str(exported["data_dir"]))
    assert mask["input"]["dtype"] == "float32" and mask["output"]["kind"] == "mask"
    assert disagreement(mask["confusion_matrix"], scores["confusion_matrix"]) <= MAX_PIXEL_DISAGREEMENT


def test_images_are_stretched_to_the_model_input_and_the_output_back(exported):
    report, _ = evaluate_tflite_file(exported["scores"], str(exported["resized"]))
    assert report["eval_size"] == [90, 70] and report["input_size"] == [65, 65] and report["num_images"] == 4

    model = keras_model(exported["model_dir"], "best/ckpt-1")
    matrix = ConfusionMatrix(6, 255)
    data = dataclasses.replace(load_experiment(str(exported["model_dir"])).data, data_dir=str(exported["resized"]))
    for batch in eval_dataset(data, MINUS_ONE_TO_ONE, (90, 70)):
        for image, label, height, width in zip(
            batch["image"].numpy(), batch["label"].numpy(), batch["height"], batch["width"], strict=True
        ):
            pixels = image[:height, :width] * 127.5 + 127.5
            resized = np.round(tf.image.resize(pixels, (65, 65)).numpy())
            probabilities = probabilities_fn(model)(((resized - 127.5) / 127.5)[None])[0]
            back = tf.image.resize(probabilities, (int(height), int(width))).numpy()
            matrix.update(label[:height, :width, 0], back.argmax(-1))
    assert report["num_pixels"] == int(matrix.matrix.sum())
    assert disagreement(report["confusion_matrix"], matrix.matrix) <= MAX_RESIZED_DISAGREEMENT


def test_without_a_card(exported, tmp_path):
    for name in ("scores", "mask"):
        shutil.copy(exported[name], tmp_path / f"{name}.tflite")
    described = describe_tflite(str(tmp_path / "scores.tflite"))
    assert described["card"] is None and described["class_names"] == [f"class_{i}" for i in range(6)]
    with pytest.raises(ValueError, match="outputs a mask; its class count comes from"):
        describe_tflite(str(tmp_path / "mask.tflite"))
    (tmp_path / "mask_labels.txt").write_text("".join(f"{name}\n" for name in CLASS_NAMES))
    with pytest.raises(ValueError, match="takes normalized float32 input; its normalization comes from"):
        describe_tflite(str(tmp_path / "mask.tflite"))
    (tmp_path / "scores_labels.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="names 2 classes, the model outputs 6"):
        describe_tflite(str(tmp_path / "scores.tflite"))


def test_a_card_that_does_not_fit_the_model_is_refused(exported, tmp_path):
    shutil.copy(exported["scores"], tmp_path / "scores.tflite")
    card = json.loads(pathlib.Path(exported["scores"].removesuffix(".tflite") + ".json").read_text())
    card["input"]["dtype"] = "float32"
    (tmp_path / "scores.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="input.dtype is 'float32' but the model has 'uint8'"):
        describe_tflite(str(tmp_path / "scores.tflite"))


def test_cli_bad_input(exported, tmp_path):
    result = run_cli("eval", f"--tflite={exported['scores']}", f"--model_dir={exported['model_dir']}")
    assert result.returncode == 1 and "--tflite evaluates a file" in result.stderr
    with pytest.raises(FileNotFoundError, match="missing.tflite does not exist"):
        evaluate_tflite_file(str(tmp_path / "missing.tflite"), str(exported["data_dir"]))
