"""--help lists each command's own flags, also when started as a console script (bin/deeplab-eval)."""

import os
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_help_lists_the_command_flags_and_docstring_not_tensorflow_flags():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    commands = {
        "eval -m --help": [sys.executable, "-m", "deeplab_tf.cli.eval", "--help"],
        "train -m --helpshort": [sys.executable, "-m", "deeplab_tf.cli.train", "--helpshort"],
    }
    script = shutil.which("deeplab-eval")
    if script:  # the console script pip installs; its own main module defines no flags
        commands["deeplab-eval --help"] = [script, "--help"]
    # Started together: each costs one TensorFlow import.
    procs = {name: subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, cmd in commands.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert "Traceback" not in err, f"{name}: {err[-2000:]}"  # absl's --help exits with 1
        assert "--tpu_" not in out and "tensorflow" not in out.lower(), name
        if name.startswith("train"):
            assert "--experiment:" in out and "--config:" in out and "--model_dir:" in out, name
        else:
            assert out.startswith("deeplab-eval: mIoU"), name  # the command's docstring
            assert "--data_dir:" in out and "--eval_size:" in out, name
