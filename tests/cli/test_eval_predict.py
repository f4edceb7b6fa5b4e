import json
import os
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.configs import get_experiment
from deeplab_tf.configs.records import save_experiment
from deeplab_tf.data.schema import make_example
from deeplab_tf.evaluation.evaluator import checkpoint_step, list_checkpoints, watch_checkpoints
from deeplab_tf.models import build_deeplab

REPO = pathlib.Path(__file__).resolve().parents[2]
EXPERIMENT = "deeplabv3plus_mnv2_synthetic"
CLASS_NAMES = ["background", "disc", "ring", "square", "triangle", "cross"]
IGNORE = 255


def run_cli(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", f"deeplab_tf.cli.{module}", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=REPO,
    )


def write_records(folder, sizes, split="val"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    with tf.io.TFRecordWriter(str(folder / f"{split}-00000-of-00001.tfrecord")) as writer:
        for i, (h, w) in enumerate(sizes):
            image = rng.randint(0, 256, (h, w, 3), dtype=np.uint8)
            label = rng.randint(0, len(CLASS_NAMES), (h, w), dtype=np.uint8)
            label[:3] = IGNORE
            example = make_example(
                cv2.imencode(".png", image)[1].tobytes(),
                "png",
                cv2.imencode(".png", label)[1].tobytes(),
                f"{i}.png",
                h,
                w,
            )
            writer.write(example.SerializeToString())
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model_dir made by hand (experiment.json + ckpt/ckpt-1) and a data_dir of val records."""
    root = tmp_path_factory.mktemp("eval")
    config = get_experiment(EXPERIMENT, smoke=True)
    model_dir = root / "model"
    save_experiment(str(model_dir), config)
    model = build_deeplab(config.model)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(model_dir / "ckpt"), 3).save()
    data_dir = write_records(root / "data", [(40, 56), (65, 50), (30, 30)])
    return model_dir, data_dir


def test_eval_cli_writes_report_and_pictures(trained):
    model_dir, data_dir = trained
    result = run_cli(
        "eval", f"--checkpoint={model_dir}/ckpt/ckpt-1", f"--data_dir={data_dir}", "--scales=0.75,1.0", "--flip"
    )
    assert result.returncode == 0, result.stderr
    for name in CLASS_NAMES:
        assert name in result.stdout
    assert "mIoU" in result.stdout
    report = json.loads((model_dir / "eval" / "eval_val_step1.json").read_text())
    assert 0.0 <= report["miou"] <= 1.0
    assert list(report["per_class_iou"]) == CLASS_NAMES and report["class_names"] == CLASS_NAMES
    assert report["num_images"] == 3 and report["step"] == 1
    assert report["scales"] == [0.75, 1.0] and report["flip"] is True
    assert report["num_pixels"] == (40 - 3) * 56 + (65 - 3) * 50 + (30 - 3) * 30
    assert np.array(report["confusion_matrix"]).shape == (6, 6)
    for suffix in ("confusion", "iou"):
        picture = cv2.imread(str(model_dir / "eval" / f"eval_val_step1_{suffix}.png"))
        assert picture is not None and picture.shape[0] > 50 and picture.shape[1] > 50


def test_predict_cli_writes_label_maps_at_original_size_and_overlays(trained, tmp_path):
    model_dir, _ = trained
    inputs = tmp_path / "images"
    inputs.mkdir()
    rng = np.random.RandomState(1)
    sizes = {"wide": (30, 90), "tall": (80, 24)}
    for name, size in sizes.items():
        cv2.imwrite(str(inputs / f"{name}.png"), rng.randint(0, 256, (*size, 3), dtype=np.uint8))
    (inputs / "notes.txt").write_text("not an image")
    output = tmp_path / "out"
    result = run_cli("predict", f"--model_dir={model_dir}", f"--input={inputs}", f"--output_dir={output}")
    assert result.returncode == 0, result.stderr
    for name, size in sizes.items():
        labels = cv2.imread(str(output / f"{name}_labels.png"), cv2.IMREAD_UNCHANGED)
        assert labels.shape == size and labels.dtype == np.uint8 and labels.max() < len(CLASS_NAMES)
        overlay = cv2.imread(str(output / f"{name}_overlay.png"))
        assert overlay is not None and overlay.shape[1] > size[1]
    assert sorted(os.listdir(output)) == ["tall_labels.png", "tall_overlay.png", "wide_labels.png", "wide_overlay.png"]


@pytest.fixture()
def bad_inputs(trained, tmp_path):
    model_dir, data_dir = trained
    no_experiment = tmp_path / "empty"
    no_experiment.mkdir()
    no_checkpoint = tmp_path / "untrained"
    save_experiment(str(no_checkpoint), get_experiment(EXPERIMENT, smoke=True))
    no_records = tmp_path / "no_records"
    no_records.mkdir()
    return {
        "no_experiment": (["eval", f"--model_dir={no_experiment}", f"--data_dir={data_dir}"], "has no experiment.json"),
        "no_checkpoint": (["eval", f"--model_dir={no_checkpoint}", f"--data_dir={data_dir}"], "no checkpoint in"),
        "bad_checkpoint": (
            ["eval", f"--checkpoint={model_dir}/ckpt/ckpt-9", f"--data_dir={data_dir}"],
            "ckpt-9 does not exist",
        ),
        "no_records": (["eval", f"--model_dir={model_dir}", f"--data_dir={no_records}"], "no TFRecords match"),
        "predict_no_input": (
            ["predict", f"--model_dir={model_dir}", f"--input={no_records}/x.png", f"--output_dir={tmp_path}"],
            "neither an image file nor a folder",
        ),
    }


def test_bad_inputs_are_one_clear_line(bad_inputs):
    # Started together: each fails before building a model, so the wait is one TensorFlow import.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    procs = {
        key: subprocess.Popen(
            [sys.executable, "-m", f"deeplab_tf.cli.{args[0]}", *args[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for key, (args, _) in bad_inputs.items()
    }
    for key, proc in procs.items():
        _, stderr = proc.communicate(timeout=300)
        message = bad_inputs[key][1]
        assert proc.returncode != 0, key
        assert "Traceback" not in stderr, (key, stderr)
        lines = [line for line in stderr.splitlines() if message in line]
        assert len(lines) == 1, (key, stderr)


def test_watch_evaluates_each_new_checkpoint_once_and_stops_after_the_timeout():
    now = [0.0]
    appear = {0.0: ["a-1"], 10.0: ["a-1", "a-2"], 20.0: ["a-2", "a-3"]}
    evaluated = []

    def list_fn():
        return max(((t, paths) for t, paths in appear.items() if t <= now[0]), default=(0, []))[1]

    def sleep(seconds):
        now[0] += max(seconds, 1e-3)

    count = watch_checkpoints(list_fn, evaluated.append, timeout=35, interval=10, sleep=sleep, clock=lambda: now[0])
    assert evaluated == ["a-1", "a-2", "a-3"] and count == 3
    assert 55 <= now[0] <= 56  # 35 s after the last new checkpoint (seen at t=20)


def test_list_checkpoints_and_step(trained):
    model_dir, _ = trained
    paths = list_checkpoints(str(model_dir))
    assert [os.path.basename(p) for p in paths] == ["ckpt-1"]
    assert checkpoint_step(paths[0]) == 1
    assert list_checkpoints(str(model_dir / "nothing")) == []
