"""The library names arguments and config keys; a command shows the flags that set them."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import pytest

from deeplab_tf.cli.common import flag_of

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_cli(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", f"deeplab_tf.cli.{module}", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_flag_of_a_config_key_an_alias_and_a_name_no_flag_sets():
    assert flag_of("train.warmup_steps") == "--config=train.warmup_steps"
    assert flag_of("path", {"path": "tflite"}) == "--tflite"
    assert flag_of("no_such_flag_anywhere") == "no_such_flag_anywhere"


def _records_of_four_classes(folder):
    from deeplab_tf.data.registry import get_dataset_info

    info = dataclasses.replace(
        get_dataset_info("synthetic"), class_names=("a", "b", "c", "d"), colormap=((0, 0, 0),) * 4
    )
    folder.mkdir()
    (folder / "dataset.json").write_text(json.dumps({"dataset": info.to_dict(), "summary": {}}))
    (folder / "train-00000-of-00001.tfrecord").touch()  # refused before it is read
    return folder


def _command(case, tmp_path):
    """(command, its arguments, what it must print) of each case."""
    train = ["--experiment=deeplabv3plus_mnv2_synthetic", "--smoke", f"--model_dir={tmp_path / 'run'}"]
    missing = tmp_path / "missing.tflite"
    if case == "train_config_key":
        records = _records_of_four_classes(tmp_path / "records")
        message = "model.num_classes=6; pass --config=model.num_classes=4 or the experiment of that dataset"
        return "train", [*train, f"--data_dir={records}"], message
    if case == "train_argument":
        return "train", train, "data_dir is not set: pass --data_dir=DIR"
    if case == "eval_alias":
        return "eval", [f"--tflite={missing}", f"--data_dir={tmp_path}"], f"--tflite={missing} does not exist"
    if case == "convert_argument":
        args = ["--dataset=folder", f"--data_dir={tmp_path}", f"--output_dir={tmp_path / 'out'}"]
        return "convert", args, "the folder dataset needs --label_map=FILE"
    return "bench", ["tflite", "--side_by_side", f"--model={missing}"], f"{missing} does not exist (in --model)"


@pytest.mark.parametrize(
    "case", ["train_config_key", "train_argument", "eval_alias", "convert_argument", "bench_alias"]
)
def test_a_command_shows_the_flag_a_user_typed(case, tmp_path):
    module, args, message = _command(case, tmp_path)
    result = run_cli(module, *args)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
