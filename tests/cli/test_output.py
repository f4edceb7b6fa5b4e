"""What a command prints: TensorFlow's start-up noise quieted by default (kept on request),
the flag list only for a flag error, a data error as one line naming the file."""

import os
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from deeplab_tf.cli.common import _START_UP_NOISE, _asks_for_logs

REPO = pathlib.Path(__file__).resolve().parents[2]
NOISE = ("absl::InitializeLog", "oneDNN", "cuda drivers", "cuInit", "cpu_feature_guard")


def start_cli(module, *args, verbose=False):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", f"deeplab_tf.cli.{module}", *map(str, args)]
    if verbose:
        command.append("--verbosity=0")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(process):
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_cli(module, *args, verbose=False):
    return finish(start_cli(module, *args, verbose=verbose))


def voc_folder(root, image_size, mask_size):
    """A VOC2012 folder with one train image whose mask has another size."""
    voc = root / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True)
    cv2.imwrite(str(voc / "JPEGImages" / "a.jpg"), np.full((*image_size, 3), 128, np.uint8))
    cv2.imwrite(str(voc / "SegmentationClass" / "a.png"), np.ones(mask_size, np.uint8))
    (voc / "ImageSets/Segmentation/train.txt").write_text("a\n")
    return root


def test_noise_patterns_match_the_start_up_lines_and_not_errors():
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796530891.316311   31598 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1796530891.316893   31598 cudart_stub.cc:31] Could not find cuda drivers on your machine",
        "E0000 00:00:1796530893.009218   31598 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow",
    ]
    kept = [
        "E0000 00:00:1796530893.009218   31598 op_kernel.cc:1830] OP_REQUIRES failed: out of memory",
        "F0000 00:00:1796530893.009218   31598 some.cc:1] Check failed",
        "train [###.......] 1/8 3072.7 img/s",
        "deeplab-convert: masks/b.png: mask 20x30 but image 20x31",
    ]
    assert all(_START_UP_NOISE.match(line) for line in noise)
    assert not any(_START_UP_NOISE.match(line) for line in kept)


@pytest.mark.parametrize(
    "argv, asks", [(["x"], False), (["x", "--verbosity=1"], True), (["x", "-v", "1"], True), (["x", "--v2"], False)]
)
def test_verbosity_flag_is_recognized(argv, asks):
    assert _asks_for_logs(argv) is asks


def test_start_up_is_quiet_and_a_data_error_is_one_line_without_the_flag_list(tmp_path):
    root = voc_folder(tmp_path / "voc", (20, 31), (20, 30))
    args = ("--dataset=pascal_voc", f"--data_dir={root}", f"--output_dir={tmp_path / 'out'}", "--splits=train")
    started = start_cli("convert", *args), start_cli("convert", *args, verbose=True)  # one TF import's time
    quiet, verbose = map(finish, started)
    for result in (quiet, verbose):
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and "flags:" not in result.stderr, result.stderr
        (line,) = [line for line in result.stderr.splitlines() if "a.png" in line]
        assert line.startswith("deeplab-convert: ") and "20x30" in line, line
        assert line.endswith("--skip_bad skips and lists bad samples)"), line  # the library names skip_bad
    assert not [line for line in quiet.stderr.splitlines() if any(word in line for word in NOISE)], quiet.stderr
    # Asked for (--verbosity), TensorFlow's own lines are there: the quiet run dropped them, not lost them.
    assert any(word in verbose.stderr for word in NOISE), verbose.stderr


def test_a_flag_error_shows_the_flag_list(tmp_path):
    result = run_cli("convert", "--dataset=synthetic", f"--output_dir={tmp_path}", "--image_size=3")
    assert result.returncode == 1
    assert "--image_size takes H,W (two positive integers), got '3'" in result.stderr
    assert "--output_dir:" in result.stderr and "Traceback" not in result.stderr


def test_libraries_absl_info_lines_are_quiet_unless_asked_for():
    # TensorFlow's checkpoint code logs INFO through absl ("Sharding callback duration"); as a tool's main would
    code = ("import deeplab_tf.cli.common as common\nfrom absl import logging\n"
            "def main(argv):\n    logging.info('library chatter')\n    print('own output')\n"
            "common.run_main(main)\n")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO)
    started = [subprocess.Popen([sys.executable, "-c", code, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env) for extra in ([], ["--verbosity=0"])]  # fmt: skip
    quiet, verbose = map(finish, started)
    assert quiet.returncode == verbose.returncode == 0, quiet.stderr + verbose.stderr
    assert "own output" in quiet.stdout and "library chatter" not in quiet.stderr, quiet.stderr
    assert "library chatter" in verbose.stderr
