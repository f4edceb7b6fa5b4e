"""deeplab-export: a model_dir becomes a .tflite + labels + model card (or a SavedModel)
that loads, runs and agrees with the Keras model; bad input fails clearly and writes nothing."""

import dataclasses
import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from conftest import write_records
from test_eval_predict import run_cli

from deeplab_tf.artifacts.model_card import validate_model_card
from deeplab_tf.configs import get_experiment
from deeplab_tf.configs.records import load_experiment, save_experiment
from deeplab_tf.evaluation.evaluator import load_trained_model
from deeplab_tf.export.compare import bytes_difference
from deeplab_tf.export.export import ExportOptions, export_model
from deeplab_tf.export.inspect import run_tflite, tensor_dtypes
from deeplab_tf.export.metadata import read_metadata
from deeplab_tf.export.serving_graph import mask_fn, probabilities_fn
from deeplab_tf.models import build_deeplab

EXPERIMENT = "deeplabv3plus_mnv2_synthetic"
CLASS_NAMES = ["background", "disc", "ring", "square", "triangle", "cross"]
# Float32 TFLite against Keras, class probabilities (measured 1.3e-6).
MAX_FLOAT_PROB_DIFF = 1e-4
# int8 PTQ mask against the Keras argmax, over pixels whose top-2 probabilities are
# 0.2 apart (measured 1.0 with seed 2, 83% of pixels) and over all pixels (measured 0.994).
MIN_PTQ_DECIDED_AGREEMENT, MIN_PTQ_AGREEMENT = 0.98, 0.9
# int8 QAT mask against the QAT Keras model's argmax: on decided pixels, and over all pixels (a random, calibrated
# QAT model is hypersensitive to one-step rounding differences: tests/export/test_tflite.py measures 0.94-0.95).
MIN_QAT_DECIDED_AGREEMENT, MIN_QAT_AGREEMENT = 0.98, 0.9

# An int8 MobileNet's uint8 input: pixels fed as they are, whose quantization is the normalization.
MOBILENET_INPUT = {"scale": float(np.float32(1 / 127.5)), "zero_point": 127}


def liven(model, seed):
    """Random batch-norm statistics: a fresh model's identity batch norms give every
    pixel nearly uniform probabilities (argmax then is a tie-break, nothing to compare)."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [rng.uniform(1, 2, gamma.shape), rng.normal(0, 0.5, beta.shape), mean, rng.uniform(0.2, 0.5, variance.shape)]
            )


def make_model_dir(model_dir, data_dir, best=True, seed=2):
    """experiment.json (recording ``data_dir``) + ckpt/ckpt-2 of a fresh model and,
    if ``best``, best/ckpt-1 of a livened one (else ckpt/ckpt-2 is the livened one)."""
    config = get_experiment(EXPERIMENT, smoke=True)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, data_dir=data_dir and str(data_dir)))
    save_experiment(str(model_dir), config)
    keras.utils.set_random_seed(seed)  # the same kernels on every machine: the checks below depend on them
    model = build_deeplab(config.model)
    checkpoint = tf.train.Checkpoint(model=model)
    if best:
        liven(model, seed)
        tf.train.CheckpointManager(checkpoint, str(model_dir / "best"), 1).save(checkpoint_number=1)
        model.set_weights(build_deeplab(config.model).get_weights())
    else:
        liven(model, seed)
    tf.train.CheckpointManager(checkpoint, str(model_dir / "ckpt"), 3).save(checkpoint_number=2)
    return model_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data_dir = root / "records"
    write_records(data_dir, "train", shards=2, per_shard=4, size=(65, 65), classes=6)
    write_records(data_dir, "val", shards=1, per_shard=2, size=(65, 65), classes=6, seed=1)
    return make_model_dir(root / "model", data_dir), data_dir


def keras_model(model_dir, which, size=None):
    config = load_experiment(str(model_dir))
    return load_trained_model(config.model, str(model_dir / which), size)[0]


def pixels(count, size, seed=5):
    return np.random.RandomState(seed).randint(0, 256, (count, *size, 3)).astype(np.uint8)


def keras_probabilities(model, images):
    """Softmax of the logits at the input size: what a mask output is the argmax of."""
    return tf.nn.softmax(model((images.astype(np.float32) - 127.5) / 127.5)).numpy()


def keras_scores(model, images):
    """What a scores output computes: softmax at the logits' resolution, then the final resize."""
    return probabilities_fn(model)(tf.constant((images.astype(np.float32) - 127.5) / 127.5)).numpy()


def listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in pathlib.Path(folder).rglob("*"))


# --- tflite ------------------------------------------------------------------------


def test_cli_exports_tflite_labels_card_and_assets(trained, tmp_path):
    model_dir, data_dir = trained
    out, assets = tmp_path / "out", tmp_path / "app" / "src" / "main" / "assets"
    result = run_cli(
        "export",
        f"--model_dir={model_dir}",
        f"--output_dir={out}",
        "--quantization=none",
        "--name=seg",
        "--evaluate",
        "--latency_threads=1",
        f"--android_assets={assets}",
    )
    assert result.returncode == 0, result.stderr
    assert listing(out) == ["seg.json", "seg.tflite", "seg_labels.txt"]
    assert listing(assets) == listing(out)
    for name in listing(out):
        assert bytes_difference((assets / name).read_bytes(), (out / name).read_bytes()) is None, name
    tflite_bytes = (out / "seg.tflite").read_bytes()
    card = json.loads((out / "seg.json").read_text())
    validate_model_card(card, tflite_bytes)
    assert (out / "seg_labels.txt").read_text().splitlines() == CLASS_NAMES
    assert [entry["name"] for entry in card["classes"]] == CLASS_NAMES
    assert card["version"] == "step1" and "best/ckpt-1" in result.stdout  # best/ before the later ckpt/
    assert card["quantization"] == "none" and card["experiment"] == f"{EXPERIMENT}:smoke"
    assert card["input"]["dtype"] == "uint8" and card["output"]["kind"] == "scores"
    assert card["metrics"]["split"] == "val" and 0 <= card["metrics"]["miou"] <= 1
    assert card["latency_ms"]["threads"] == 1 and card["latency_ms"]["xnnpack_median"] > 0
    metadata = read_metadata(tflite_bytes)
    assert (metadata["name"], metadata["version"]) == ("seg", "step1") and metadata["description"] == card["description"]
    assert metadata["files"]["labels.txt"].decode().splitlines() == CLASS_NAMES

    images = pixels(2, (65, 65))
    expected = keras_scores(keras_model(model_dir, "best/ckpt-1"), images)
    got = np.concatenate([run_tflite(tflite_bytes, image) for image in images])
    assert np.abs(got - expected).max() < MAX_FLOAT_PROB_DIFF
    assert len(np.unique(expected.argmax(-1))) > 1  # a model with something to agree on


# fp16 and dynamic against the float32 export of the same checkpoint (measured on 3 images:
# max / mean |dp| 1.0e-3 / 7.3e-5 fp16, 0.022 / 1.9e-3 dynamic; argmax agreement 0.9998 and
# 0.994), and against the Keras model's argmax (0.995 and 0.991; the float export 0.995).
MAX_PROB_DIFF = {"fp16": 5e-3, "dynamic": 0.1}
MEAN_PROB_DIFF = {"fp16": 5e-4, "dynamic": 0.01}
MIN_ARGMAX_AGREEMENT = {"fp16": 0.999, "dynamic": 0.98}
MIN_KERAS_ARGMAX_AGREEMENT = 0.98


def weight_bytes(tflite_bytes):
    """Bytes of the constant tensors (weights, biases, shapes) by stored dtype, e.g. {"int8": n, ...}."""
    sizes = {}
    for tensor in tensor_dtypes(tflite_bytes).values():
        if tensor["constant"]:
            nbytes = np.dtype(tensor["dtype"]).itemsize * int(np.prod(tensor["shape"]))
            sizes[tensor["dtype"]] = sizes.get(tensor["dtype"], 0) + nbytes
    return sizes


@pytest.fixture(scope="module")
def float_export(trained, tmp_path_factory):
    model_dir, _ = trained
    result = export_model(str(model_dir), str(tmp_path_factory.mktemp("float")), ExportOptions(quantization="none"))
    return pathlib.Path(result["files"]["model"]).read_bytes()


@pytest.mark.parametrize("quantization", ["fp16", "dynamic"])
def test_cli_fp16_and_dynamic_exports_are_smaller_and_agree(trained, float_export, tmp_path, quantization):
    model_dir, _ = trained
    out = tmp_path / "out"
    result = run_cli(
        "export", f"--model_dir={model_dir}", f"--output_dir={out}", f"--quantization={quantization}", "--name=seg",
        "--evaluate",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    tflite_bytes = (out / "seg.tflite").read_bytes()
    card = json.loads((out / "seg.json").read_text())
    validate_model_card(card, tflite_bytes)
    assert card["quantization"] == quantization and card["size_bytes"] == len(tflite_bytes)
    assert card["input"]["dtype"] == "uint8" and card["output"]["dtype"] == "float32"
    assert card["metrics"]["split"] == "val" and 0 <= card["metrics"]["miou"] <= 1

    # Weights: fp16 stores every float32 weight in half the bytes; dynamic stores the big
    # ones as int8 (a quarter) and keeps small tensors (biases) in float32.
    weights, float_weights = weight_bytes(tflite_bytes), weight_bytes(float_export)
    assert "float32" not in weights if quantization == "fp16" else "float16" not in weights
    if quantization == "fp16":
        assert weights["float16"] * 2 == float_weights["float32"]
        assert len(tflite_bytes) < 0.6 * len(float_export)  # measured 0.56 (graph and metadata stay)
    else:
        assert weights["int8"] * 4 + weights["float32"] == float_weights["float32"]
        assert weights["int8"] * 4 > 0.9 * float_weights["float32"]  # measured 0.94
        assert len(tflite_bytes) < 0.45 * len(float_export)  # measured 0.40

    images = pixels(3, (65, 65))
    got, reference = (np.concatenate([run_tflite(b, image) for image in images]) for b in (tflite_bytes, float_export))
    difference = np.abs(got - reference)
    assert difference.max() < MAX_PROB_DIFF[quantization] and difference.mean() < MEAN_PROB_DIFF[quantization]
    assert (got.argmax(-1) == reference.argmax(-1)).mean() >= MIN_ARGMAX_AGREEMENT[quantization]
    expected = keras_probabilities(keras_model(model_dir, "best/ckpt-1"), images).argmax(-1)
    assert (got.argmax(-1) == expected).mean() >= MIN_KERAS_ARGMAX_AGREEMENT and len(np.unique(expected)) > 1


def test_int8_ptq_mask_at_another_input_size(trained, tmp_path):
    _, data_dir = trained
    model_dir = make_model_dir(tmp_path / "model", data_dir, best=False)
    options = ExportOptions(quantization="int8_ptq", output="mask", input_size=(81, 97), calibration_batches=2)
    result = export_model(str(model_dir), str(tmp_path / "out"), options)
    assert result["checkpoint"].endswith(os.path.join("ckpt", "ckpt-2"))  # no best/: the latest
    card, tflite_bytes = result["card"], pathlib.Path(result["files"]["model"]).read_bytes()
    validate_model_card(card, tflite_bytes)
    assert (card["input"]["height"], card["input"]["width"]) == (81, 97)
    assert card["input"]["quantization"] == MOBILENET_INPUT
    assert card["output"] == {"kind": "mask", "dtype": "uint8", "shape": [1, 81, 97], "quantization": None}
    assert card["quantization"] == "int8_ptq" and card["metrics"] is None and card["latency_ms"] is None
    assert os.path.basename(result["files"]["model"]) == f"{EXPERIMENT}_smoke_81x97_int8_ptq_mask.tflite"

    images = pixels(3, (81, 97))
    expected = keras_probabilities(keras_model(model_dir, "ckpt/ckpt-2", (81, 97)), images)
    mask = np.concatenate([run_tflite(tflite_bytes, image) for image in images])
    assert mask.shape == (3, 81, 97) and mask.dtype == np.uint8
    top2 = np.sort(expected, axis=-1)[..., -2:]
    decided = top2[..., 1] - top2[..., 0] >= 0.2
    agree = mask == expected.argmax(-1)
    assert decided.mean() > 0.3 and agree[decided].mean() >= MIN_PTQ_DECIDED_AGREEMENT
    assert agree.mean() >= MIN_PTQ_AGREEMENT


def test_int8_qat_from_a_qat_model_dir(trained, tmp_path):
    """A QAT run's model_dir as ``deeplab-train --qat_from`` leaves it: experiment.json with
    its "qat" section, a checkpoint of the calibrated quantization-aware model."""
    from deeplab_tf.quantization.finetune import build_qat_model, calibrate_on_training_data

    model_dir, _ = trained
    config = load_experiment(str(model_dir))
    qat_dir = tmp_path / "qat"
    origin = {"float_model_dir": str(model_dir), "float_checkpoint": str(model_dir / "best" / "ckpt-1")}
    save_experiment(str(qat_dir), config, qat_origin=origin)
    qat = build_qat_model(config, origin["float_checkpoint"])
    calibrate_on_training_data(qat, config)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=qat), str(qat_dir / "ckpt"), 1).save(checkpoint_number=3)

    result = export_model(str(qat_dir), str(tmp_path / "out"), ExportOptions(quantization="int8_qat", output="mask"))
    card, tflite_bytes = result["card"], pathlib.Path(result["files"]["model"]).read_bytes()
    validate_model_card(card, tflite_bytes)
    assert card["quantization"] == "int8_qat" and card["version"] == "step3"
    assert card["input"]["quantization"] == MOBILENET_INPUT and card["output"]["kind"] == "mask"

    images = pixels(3, (65, 65))
    expected = tf.nn.softmax(qat((images.astype(np.float32) - 127.5) / 127.5, training=False)).numpy()
    mask = np.concatenate([run_tflite(tflite_bytes, image) for image in images])
    top2 = np.sort(expected, axis=-1)[..., -2:]
    decided = top2[..., 1] - top2[..., 0] >= 0.2
    agree = mask == expected.argmax(-1)
    assert decided.any() and agree[decided].mean() >= MIN_QAT_DECIDED_AGREEMENT
    assert agree.mean() >= MIN_QAT_AGREEMENT


# --- SavedModel ------------------------------------------------------------------


@pytest.mark.parametrize("input_dtype,output", [("uint8", "scores"), ("float32", "mask")])
def test_saved_model_serves_like_the_keras_model(trained, tmp_path, input_dtype, output):
    model_dir, _ = trained
    options = ExportOptions(format="saved_model", input_dtype=input_dtype, output=output, name="served")
    result = export_model(str(model_dir), str(tmp_path / "out"), options)
    assert listing(tmp_path / "out")[0] == "served" and not any(".tmp" in p for p in listing(tmp_path / "out"))
    serve = tf.saved_model.load(result["files"]["saved_model"]).signatures["serving_default"]
    images = pixels(2, (65, 65), seed=9)
    model = keras_model(model_dir, "best/ckpt-1")
    normalized = (images.astype(np.float32) - 127.5) / 127.5
    feed = images if input_dtype == "uint8" else normalized
    got = serve(image=tf.constant(feed))[output].numpy()
    if output == "scores":
        np.testing.assert_allclose(got, keras_scores(model, images), atol=1e-5)
    else:  # as the TFLite mask: argmax at half size, each id copied to 2x2 pixels
        expected = mask_fn(model)(tf.constant(normalized)).numpy()
        assert got.dtype == np.uint8 and got.shape == expected.shape and (got == expected).mean() > 0.999


def test_saved_model_replaces_an_older_one(trained, tmp_path):
    model_dir, _ = trained
    (tmp_path / "out" / "served").mkdir(parents=True)
    (tmp_path / "out" / "served" / "stale.txt").write_text("old export")
    export_model(str(model_dir), str(tmp_path / "out"), ExportOptions(format="saved_model", name="served"))
    assert "served/saved_model.pb" in listing(tmp_path / "out")
    assert not any("stale" in p or ".tmp" in p or ".old" in p for p in listing(tmp_path / "out"))


# --- bad input -----------------------------------------------------------------------


@pytest.fixture()
def untrained(tmp_path):
    model_dir = tmp_path / "untrained"
    save_experiment(str(model_dir), get_experiment(EXPERIMENT, smoke=True))
    return model_dir


@pytest.mark.parametrize(
    "case,options,error,message",
    [
        ("missing", ExportOptions(quantization="none"), FileNotFoundError, "does not exist"),
        ("untrained", ExportOptions(quantization="none"), FileNotFoundError, "no checkpoint in"),
        ("trained", ExportOptions(quantization="none", input_size=(16, 16)), ValueError, "too small"),
        ("trained", ExportOptions(quantization="int8_qat"), ValueError, "is a float run: int8_qat needs"),
        ("no_data", ExportOptions(quantization="int8_ptq"), ValueError, "pass data_dir=DIR"),
        ("trained", ExportOptions(quantization="int8_ptq", data_dir="EMPTY"), FileNotFoundError, "int8_ptq calibration"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(trained, untrained, tmp_path, case, options, error, message):
    model_dir, data_dir = trained
    model_dirs = {"missing": tmp_path / "nowhere", "untrained": untrained, "trained": model_dir}
    if case == "no_data":
        model_dirs[case] = make_model_dir(tmp_path / "no_data", None, best=False)
    if options.data_dir == "EMPTY":
        (tmp_path / "empty").mkdir()
        options = dataclasses.replace(options, data_dir=str(tmp_path / "empty"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "seg.tflite").write_bytes(b"the previous export")
    with pytest.raises(error, match=message):
        export_model(str(model_dirs[case]), str(out), dataclasses.replace(options, name="seg"))
    assert listing(out) == ["seg.tflite"] and (out / "seg.tflite").read_bytes() == b"the previous export"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(format="onnx"), "format must be one of"),
        (dict(quantization="int4"), "quantization must be one of"),
        (dict(input_size=(65, 0)), "input_size must be two positive integers"),
        (dict(format="saved_model", quantization="int8_ptq"), "a SavedModel holds the float model"),
        (dict(format="saved_model", android_assets="assets"), "take a tflite export"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExportOptions(**kwargs)


def test_cli_bad_input_size_exits_with_the_reason(trained, tmp_path):
    model_dir, _ = trained
    result = run_cli("export", f"--model_dir={model_dir}", f"--output_dir={tmp_path / 'out'}", "--input_size=65")
    assert result.returncode == 1
    assert "--input_size takes H,W (two positive integers), got '65'" in result.stderr
    assert not (tmp_path / "out").exists()
