import json
import os
import re
import subprocess
import sys

import pytest


def run_bench(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "deeplab_tf.cli.bench", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_bench_train_json_on_a_smoke_experiment():
    result = run_bench(
        "train",
        "--experiment=deeplabv3plus_mnv2_pascal",
        "--smoke",
        "--batch_size=3",
        "--input_size=49,57",
        "--train_steps=2",
        "--warmup_steps=1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images_per_second"] > 0
    assert report["experiment"] == "deeplabv3plus_mnv2_pascal:smoke"
    assert report["batch_size"] == 3 and report["input_size"] == [49, 57]
    assert report["model"]["input_size"] == [49, 57] and report["model"]["num_classes"] == 21
    assert report["mixed_precision"] == "none" and report["qat"] is False
    assert report["timed_steps"] == 2 and report["warmup_steps"] == 1
    seconds = report["step_seconds"]
    assert 0 < seconds["min"] <= seconds["median"] <= seconds["max"]
    assert report["images_per_second"] == pytest.approx(3 / seconds["median"], rel=1e-2)
    assert all(v > 0 for v in report["loss"].values())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input_size=65"], "--input_size takes H,W (two positive integers), got '65'"),
        (["--batch_size=0"], "batch_size must be >= 1, got 0"),
    ],
)
def test_bench_train_bad_input_is_one_clear_error(args, message):
    result = run_bench("train", "--experiment=deeplabv3plus_mnv2_pascal", "--smoke", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "overrides, kwargs, message",
    [
        ({"model.input_size": (0, 65)}, {}, "input_size must be two positive integers H,W"),
        ({}, {"steps": 0}, "steps to time must be >= 1, got 0"),
        ({}, {"warmup_steps": 0}, "warmup_steps must be >= 1"),
        ({"train.mixed_precision": "bfloat16"}, {"qat": True}, "QAT trains in float32"),
    ],
)
def test_benchmark_rejects_bad_settings_before_building(overrides, kwargs, message):
    from deeplab_tf.configs import get_experiment, override
    from deeplab_tf.training.benchmark import benchmark_train_step

    config = override(get_experiment("deeplabv3plus_mnv2_pascal", smoke=True), overrides)
    with pytest.raises(ValueError, match=re.escape(message)):
        benchmark_train_step(config, **kwargs)


def test_bench_parses_sizes_with_clear_errors():
    # In-process, only the shared parser: importing a CLI module defines its absl flags in this process.
    from deeplab_tf.cli.common import parse_size

    assert parse_size("360,480", "input_size") == (360, 480)
    assert parse_size("257x257", "crop") == (257, 257)
    with pytest.raises(ValueError, match=re.escape("--input_size takes H,W (two positive integers), got '0,65'")):
        parse_size("0,65", "input_size")
    with pytest.raises(ValueError, match=re.escape("--crop takes H,W (two positive integers), got '1,2,3'")):
        parse_size("1,2,3", "crop")


def test_format_train_benchmark_names_the_setting_and_the_rate():
    from deeplab_tf.training.benchmark import format_train_benchmark

    text = format_train_benchmark(
        {
            "experiment": "x",
            "batch_size": 4,
            "input_size": [512, 512],
            "mixed_precision": "bfloat16",
            "qat": False,
            "jit_compile": False,
            "images_per_second": 2.5,
            "step_seconds": {"median": 1.6, "min": 1.5, "max": 1.9},
            "timed_steps": 10,
            "warmup_steps": 3,
            "first_step_seconds": 30.0,
        }
    )
    assert text.splitlines()[0] == "x: batch 4, 512x512, bfloat16"
    assert "images/s            2.50" in text and "(10 timed after 3 warm-up)" in text


def test_bench_needs_a_known_command():
    result = run_bench("nope")
    assert result.returncode != 0
    assert "deeplab-bench needs a command: one of data, train, tflite" in result.stderr
