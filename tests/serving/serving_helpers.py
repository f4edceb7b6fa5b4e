"""Helpers of the deeplab-serve tests: the worktree's server in a subprocess, HTTP requests,
bounded polling. (Not in conftest.py: test modules elsewhere import ``conftest`` by name.)"""

import pathlib
import sys
import time

from deeplab_tf.serving.benchmark import ServerProcess, http_request

REPO = pathlib.Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT_S = 30


def import_make_model_dir():
    """``tests/cli/test_export.make_model_dir`` (that module imports tests/conftest.py as ``conftest``,
    which tests/serving/conftest.py keeps under that name)."""
    sys.path.insert(0, str(REPO / "tests" / "cli"))
    try:
        from test_export import make_model_dir
    finally:
        sys.path.remove(str(REPO / "tests" / "cli"))
    return make_model_dir


def request(url, data=None, method=None, headers=None):
    return http_request(url, data, method, headers, REQUEST_TIMEOUT_S)


class Server(ServerProcess):
    """``deeplab-serve`` of this worktree (PYTHONPATH) in a subprocess on free ports of 127.0.0.1."""

    def __init__(self, model, *flags):
        super().__init__(str(model), *flags, env={"PYTHONPATH": str(REPO)})


def wait_until(condition, timeout_s=10.0, step_s=0.02):
    """Polls ``condition()`` until true or ``timeout_s``; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(step_s)
    return value
