"""deeplab-train --init_from with weights of a backbone alone: the model zoo's ImageNet checkpoints
(resnet_v1_50_2018_05_04.tar.gz, resnet_v1_101_2018_05_04.tar.gz: the beta variants of
core/resnet_v1_beta.py; the MobileNetV2 ImageNet checkpoint), written here under the original
names with their ImageNet classifiers and training state, independently of deeplab_tf.importing.
"""

import deeplab_tf  # noqa: F401, I001  (selects Keras 2 before TensorFlow is imported)

import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from test_import import original_mobilenet_v2_variables
from test_import_backbones import (
    SIZE,
    TRAINING_STATE,
    _compare_levels,
    _Variables,
    original_resnet_v1,
    original_resnet_v1_backbone,
    resnet_v1_blocks,
    write_tf1_checkpoint,
)

from deeplab_tf.configs import get_experiment, override
from deeplab_tf.evaluation.evaluator import load_trained_model
from deeplab_tf.export.export import find_checkpoint
from deeplab_tf.importing import initial, mapping
from deeplab_tf.importing.importer import import_weights
from deeplab_tf.importing.initial import init_from_record, initial_weights_fn, read_init_from
from deeplab_tf.importing.sources import Source
from deeplab_tf.models import build_deeplab, get_backbone_spec
from deeplab_tf.models.deeplab import build_deeplab_with_backbone

REPO = pathlib.Path(__file__).resolve().parents[2]
# The heads of a DeepLab model: what a backbone alone leaves freshly initialized.
HEAD_PREFIXES = ("aspp_", "decoder_", "logits_")
# feature_extractor.py's _PREPROCESS_FN: [-1, 1] for the beta variants, the ImageNet mean subtracted otherwise.
UNIT_RANGE = {"color_order": "RGB", "mean": [127.5] * 3, "std": [127.5] * 3}
MEAN_SUBTRACTED = {"color_order": "RGB", "mean": [123.15, 115.90, 103.06], "std": [1.0] * 3}


def resnet_levels(scope: str, block3_units: int) -> dict:
    """feature_extractor.py networks_to_feature_maps: the decoder end points at strides 4, 8, 16."""
    unit = f"{scope}/block{{}}/unit_{{}}/bottleneck_v1/conv3"
    return {"C2": unit.format(1, 2), "C3": unit.format(2, 3), "C4": unit.format(3, block3_units - 1), "C5": "output"}


def _weighted(model):
    return [layer.name for layer in model.layers if layer.weights]


@pytest.fixture(scope="module")
def resnet50_beta_archive(tmp_path_factory):
    """resnet_v1_50_2018_05_04.tar.gz as the model zoo ships it: resnet_v1_50_beta's variables, its
    ImageNet classifier (``resnet_v1_50/logits``) and training state, in a .tar.gz."""
    root = tmp_path_factory.mktemp("zoo")
    variables = _Variables(seed=7)
    original_resnet_v1_backbone(variables, "resnet_v1_50", resnet_v1_blocks(6), beta=True)
    variables.conv("resnet_v1_50/logits", [1, 1, 2048, 1000], bn=False)
    write_tf1_checkpoint(root / "resnet_v1_50" / "model.ckpt", variables.values)
    archive = root / "resnet_v1_50_2018_05_04.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(root / "resnet_v1_50", arcname="resnet_v1_50")
    return str(archive), variables.values


def test_resnet_v1_50_beta_imagenet_checkpoint_starts_a_training_run(resnet50_beta_archive, records, tmp_path):
    from deeplab_tf.training.trainer import train

    archive, values = resnet50_beta_archive
    config = override(
        get_experiment("deeplabv3plus_resnet50_beta_cityscapes", smoke=True),
        {"data.dataset": "synthetic", "model.num_classes": 6, "data.data_dir": str(records),
         "train.train_steps": 2, "train.eval_every": -1},
    )  # fmt: skip
    init = read_init_from(archive)
    assert init.backbone_only
    record = init_from_record(init)
    assert record["kind"] == "tarball" and record["member"] == "resnet_v1_50/model.ckpt-30000"

    model = build_deeplab(config.model)
    fresh = {layer.name: layer.get_weights() for layer in model.layers if layer.name.startswith(HEAD_PREFIXES)}
    lines = []
    initial_weights_fn(init, config, lines.append)(model)
    heads = [name for name in _weighted(model) if name.startswith(HEAD_PREFIXES)]
    backbone = [name for name in _weighted(model) if not name.startswith(HEAD_PREFIXES)]
    assert len(backbone) == 2 * (3 + 3 * 16 + 4)  # a conv + its batch norm: 3 root, 16 units, 4 shortcuts
    assert lines[0] == f"init_from {archive}: loaded {len(backbone)} layers, {len(heads)} not loaded"
    assert [line.split(":")[1].strip() for line in lines if line.startswith("  not loaded: ")] == heads
    not_used = sorted(line.split(":")[1].strip() for line in lines if line.startswith("  not used: "))
    first = next(iter(values))
    assert not_used == sorted(["resnet_v1_50/logits/weights", "resnet_v1_50/logits/biases",
                               f"{first}/Momentum", TRAINING_STATE])  # fmt: skip
    for name in backbone:  # every weight the checkpoint's, batch norms too (epsilon 1e-5 on both sides)
        conv = name.removesuffix("_bn")
        scope = "resnet_v1_50/" + re.sub(r"^block(\d)_unit_(\d+)_", r"block\1/unit_\2/bottleneck_v1/", conv)
        leaves = ["BatchNorm/gamma", "BatchNorm/beta", "BatchNorm/moving_mean", "BatchNorm/moving_variance"]
        for got, leaf in zip(model.get_layer(name).get_weights(), leaves if name != conv else ["weights"], strict=True):
            np.testing.assert_array_equal(got, values[f"{scope}/{leaf}"], err_msg=name)
    for name, weights in fresh.items():  # the heads keep their fresh initialization
        for got, want in zip(model.get_layer(name).get_weights(), weights, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)

    # two training steps from there, recorded as the ImageNet checkpoint's
    lines_of_run = []
    result = train(config, str(tmp_path / "run"), initial_weights=initial_weights_fn(init, config, lines_of_run.append))
    assert (result["start_step"], result["step"]) == (0, 2) and lines_of_run == lines
    trained, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "run")))
    kernel = trained.get_layer("block2_unit_1_conv1").kernel.numpy()
    want = values["resnet_v1_50/block2/unit_1/bottleneck_v1/conv1/weights"]
    assert not np.array_equal(kernel, want)
    np.testing.assert_allclose(kernel, want, atol=0.05)


def test_resnet_v1_50_beta_computes_the_original_backbone(resnet50_beta_archive):
    """The beta root (three 3x3 convs, the first with fixed padding) at output stride 8."""
    archive, values = resnet50_beta_archive
    config = override(
        get_experiment("deeplabv3plus_resnet50_beta_cityscapes", smoke=True),
        {"model.input_size": f"{SIZE},{SIZE}", "model.backbone.output_stride": 8},
    )
    model, backbone = build_deeplab_with_backbone(config.model)
    initial.load_backbone(model, config, read_init_from(archive).source)
    images = tf.constant(np.random.default_rng(8).uniform(-1, 1, (1, SIZE, SIZE, 3)), tf.float32)
    end_points = original_resnet_v1(images, values, 8, (1, 2, 4), "resnet_v1_50", resnet_v1_blocks(6), beta=True)
    _compare_levels(backbone, {**end_points, "images": images}, resnet_levels("resnet_v1_50", 6))
    assert model.get_layer("conv1_1_pad").padding == ((1, 1), (1, 1)) and model.get_layer("conv1_1").strides == (2, 2)
    assert model.get_layer("conv1_2").padding == model.get_layer("conv1_3").padding == "same"
    assert get_backbone_spec("resnet50_beta_deeplab").preprocessing.to_dict() == UNIT_RANGE


def resnet_v1_101_variables(beta: bool) -> dict:
    variables = _Variables(seed=9)
    original_resnet_v1_backbone(variables, "resnet_v1_101", resnet_v1_blocks(23), beta=beta)
    return variables.values


def _resnet_v1_101(name: str):
    config = override(
        get_experiment("deeplabv3plus_resnet101_beta_cityscapes", smoke=True),
        {"model.backbone.name": name, "model.input_size": f"{SIZE},{SIZE}"},
    )
    model, backbone = build_deeplab_with_backbone(config.model)
    return config, model, backbone


def test_resnet_v1_101_beta_takes_every_variable_and_computes_the_original_backbone():
    """block3's 23 units, its decoder end point unit_22; OS16 with multi-grid (1, 2, 4)."""
    values = resnet_v1_101_variables(beta=True)
    assert len(values) == 5 * (3 + 3 * 33 + 4)  # root, 3 + 4 + 23 + 3 units, 4 shortcuts: a conv + 4 BN variables
    config, model, backbone = _resnet_v1_101("resnet101_beta_deeplab")
    report = initial.load_backbone(model, config, Source("resnet_v1_101.ckpt", "tf1_checkpoint", values, folded=False))
    assert len(report["loaded"]) == 2 * (3 + 3 * 33 + 4) and report["not_used"] == []
    images = tf.constant(np.random.default_rng(10).uniform(-1, 1, (1, SIZE, SIZE, 3)), tf.float32)
    end_points = original_resnet_v1(images, values, 16, (1, 2, 4), "resnet_v1_101", resnet_v1_blocks(23), beta=True)
    _compare_levels(backbone, {**end_points, "images": images}, resnet_levels("resnet_v1_101", 23))
    assert get_backbone_spec("resnet101_beta_deeplab").preprocessing.to_dict() == UNIT_RANGE


def test_resnet_v1_101_takes_every_variable_of_the_original():
    """The 7x7 root (resnet50_deeplab's, checked against the original in test_import_backbones) on 101 units."""
    values = resnet_v1_101_variables(beta=False)
    assert len(values) == 5 * (1 + 3 * 33 + 4)
    config, model, _ = _resnet_v1_101("resnet101_deeplab")
    source = Source("resnet_v1_101.ckpt", "tf1_checkpoint", values, folded=False)
    assert mapping.assign_backbone(model, config.model, source).used == set(values)
    assert get_backbone_spec("resnet101_deeplab").preprocessing.to_dict() == MEAN_SUBTRACTED


# --- MobileNetV2's ImageNet checkpoint; errors ----------------------------------------------


@pytest.fixture
def mobilenet_imagenet(tmp_path):
    """TF-slim's mobilenet_v2_1.0 ImageNet checkpoint: the feature extractor DeepLab uses, then
    ``Conv_1`` (1280 channels) and the classifier ``Logits/Conv2d_1c_1x1`` it does not."""
    values = {
        name: value
        for name, value in original_mobilenet_v2_variables(1.0, np.random.RandomState(11)).items()
        if name.startswith("MobilenetV2/")
    }
    extra = _Variables(seed=12)
    extra.conv("MobilenetV2/Conv_1", [1, 1, 320, 1280])
    extra.conv("MobilenetV2/Logits/Conv2d_1c_1x1", [1, 1, 1280, 1001], bn=False)
    values.update(extra.values)
    config = override(get_experiment("deeplabv3_mnv2_dm10_pascal"), {"model.input_size": "65,65"})
    return write_tf1_checkpoint(tmp_path / "mobilenet_v2_1.0_224" / "model.ckpt", values), values, config


def test_mobilenet_v2_imagenet_checkpoint_inits_the_backbone(mobilenet_imagenet):
    prefix, values, config = mobilenet_imagenet
    model = build_deeplab(config.model)
    lines = []
    initial_weights_fn(read_init_from(prefix), config, lines.append)(model)
    heads = [name for name in _weighted(model) if name.startswith(HEAD_PREFIXES)]
    assert lines[0] == f"init_from {prefix}: loaded {len(_weighted(model)) - len(heads)} layers, {len(heads)} not loaded"
    assert [line.split(":")[1].strip() for line in lines if line.startswith("  not loaded: ")] == heads
    not_used = {line.split(":")[1].strip() for line in lines if line.startswith("  not used: ")}
    assert {name for name in not_used if "Momentum" not in name and name != TRAINING_STATE} == {
        name for name in values if name.startswith(("MobilenetV2/Conv_1/", "MobilenetV2/Logits/"))}  # fmt: skip
    np.testing.assert_array_equal(model.get_layer("block_16_project").kernel.numpy(),
                                  values["MobilenetV2/expanded_conv_16/project/weights"])  # fmt: skip
    np.testing.assert_array_equal(model.get_layer("Conv1").kernel.numpy(), values["MobilenetV2/Conv/weights"])


def test_deeplab_import_refuses_a_backbone_alone(mobilenet_imagenet, tmp_path):
    prefix, _, config = mobilenet_imagenet
    with pytest.raises(ValueError, match=f"has no logits/semantic.*deeplab-train --init_from={prefix} "):
        import_weights(prefix, config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def test_a_backbone_alone_of_another_network_or_incomplete_fails(mobilenet_imagenet, tmp_path):
    prefix, values, config = mobilenet_imagenet
    other = write_tf1_checkpoint(
        tmp_path / "resnet" / "model.ckpt", {"resnet_v1_50/conv1_1/weights": np.zeros((3, 3, 3, 64), np.float32)}
    )
    initialize = initial_weights_fn(read_init_from(other), config, print)
    with pytest.raises(ValueError, match=rf"{other} fits no layer of backbone 'mobilenet_v2'.*MobilenetV2/Conv, "):
        initialize(build_deeplab(config.model))
    incomplete = {name: value for name, value in values.items() if "expanded_conv_5/expand" not in name}
    prefix = write_tf1_checkpoint(tmp_path / "incomplete" / "model.ckpt", incomplete)
    with pytest.raises(mapping.ImportMismatch, match=r"4 weights of the model without a source variable(.|\n)*"
                                                     r"block_5_expand/kernel:0 \[1, 1, 32, 192\] <- MobilenetV2/"
                                                     r"expanded_conv_5/expand/weights"):  # fmt: skip
        initial_weights_fn(read_init_from(prefix), config, print)(build_deeplab(config.model))


def test_released_weights_are_read_once_for_a_run(mobilenet_imagenet, monkeypatch):
    prefix, _, config = mobilenet_imagenet
    reads = []
    read_source = initial.read_source
    monkeypatch.setattr(initial, "read_source", lambda path: reads.append(path) or read_source(path))
    init = read_init_from(prefix)
    initial_weights_fn(init, config, lambda line: None)(build_deeplab(config.model))
    assert init_from_record(init)["kind"] == "tf1_checkpoint"
    assert reads == [prefix]


def test_deeplab_train_cli_starts_from_a_backbone_alone(mobilenet_imagenet, records, tmp_path):
    prefix, _, _ = mobilenet_imagenet
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "deeplab_tf.cli.train", "--experiment=deeplabv3_mnv2_dm10_pascal",
        f"--init_from={prefix}", f"--model_dir={run}", f"--data_dir={records}", "--crop_size=65,65",
        "--batch_size=2", "--train_steps=1", "--config=data.dataset=synthetic", "--config=model.num_classes=6",
        "--config=data.eval_size=none", "--config=train.eval_every=-1",
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"init_from {prefix}: loaded " in first.stdout
    assert "  not used: MobilenetV2/Logits/Conv2d_1c_1x1/weights: shape [1, 1, 1280, 1001]" in first.stdout
    record = json.loads((run / "init_from.json").read_text())
    assert record["kind"] == "tf1_checkpoint" and record["source"] == prefix
