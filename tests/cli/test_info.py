import json
import os
import subprocess
import sys

import pytest

from deeplab_tf.configs import get_experiment


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "deeplab_tf.cli.info", *args], capture_output=True, text=True, env=env, timeout=300)


def test_info_json_on_a_smoke_experiment():
    result = run_cli("--experiment=deeplabv3plus_mnv2_camvid", "--smoke", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["input"]["shape"] == [1, 65, 65, 3]
    assert info["input"]["preprocessing"] == {"color_order": "RGB", "mean": [127.5] * 3, "std": [127.5] * 3}
    assert info["output"]["shape"] == [1, 65, 65, 11]
    assert {k: v["stride"] for k, v in info["feature_levels"].items()} == {"C2": 4, "C3": 8, "C4": 16, "C5": 16}
    assert info["parameters"]["total"] > 0 and info["multiply_adds"] > info["backbone_multiply_adds"] > 0


def test_info_input_size_override_and_text_output():
    result = run_cli("--experiment=deeplabv3_mnv2_pascal", "--input_size=257,257")
    assert result.returncode == 0, result.stderr
    assert "[1, 257, 257, 3]" in result.stdout and "multiply-adds" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--experiment=nope"], "unknown experiment 'nope'; known experiments:"),
        (["--experiment=deeplabv3_mnv2_pascal", "--input_size=16,16"], "too small"),
        (["--experiment=deeplabv3_mnv2_pascal", "--config=model.num_classes=1"], "num_classes must be an integer >= 2"),
        (["--experiment=deeplabv3_mnv2_pascal", "--config=model.backbone.output_stride=4"], "output_stride must be one of"),
    ],
)
def test_info_bad_input_is_one_clear_error(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_mobilenet_v2_pascal_multiply_adds_are_published_figure():
    from deeplab_tf.cli.info import describe

    info = describe(get_experiment("deeplabv3_mnv2_pascal"))
    assert abs(info["multiply_adds"] - 2.75e9) / 2.75e9 < 0.10


def test_describe_reports_the_backbone_inside_the_one_built_model():
    from deeplab_tf.cli.info import describe
    from deeplab_tf.models import build_backbone, build_deeplab_with_backbone, feature_strides
    from deeplab_tf.models.profile import count_macs

    config = get_experiment("deeplabv3plus_mnv2_camvid", smoke=True)
    model, backbone = build_deeplab_with_backbone(config.model)
    assert {id(layer) for layer in backbone.layers} < {id(layer) for layer in model.layers}
    assert backbone.input is model.input and backbone.output["C2"].shape[1:3] == (17, 17)
    standalone = build_backbone(config.model.backbone, tuple(config.model.input_size))
    info = describe(config)
    assert info["backbone_multiply_adds"] == count_macs(standalone) == count_macs(backbone) > 0
    assert info["multiply_adds"] == count_macs(model) > info["backbone_multiply_adds"]
    assert {name: level["stride"] for name, level in info["feature_levels"].items()} == feature_strides(standalone)
