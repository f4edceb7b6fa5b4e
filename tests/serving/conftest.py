"""deeplab-serve fixtures: a small exported model (a SavedModel in TF Serving's NAME/VERSION
layout and a float .tflite with its card) and servers started as subprocesses on 127.0.0.1."""

import pathlib
import sys
import time

import pytest

from deeplab_tf.serving.benchmark import ServerProcess, http_request

REPO = pathlib.Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT_S = 30


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """``models/seg_sm/1/saved_model.pb`` (scores) and ``models/seg_tfl.tflite`` (+ card, labels)
    of one livened smoke model (``tests/cli/test_export.make_model_dir``)."""
    from deeplab_tf.export.export import ExportOptions, export_model

    make_model_dir = import_make_model_dir()

    root = tmp_path_factory.mktemp("serving")
    model_dir = make_model_dir(root / "model", None)
    models = root / "models"
    export_model(str(model_dir), str(models / "seg_sm"), ExportOptions(format="saved_model", name="1"))
    export_model(str(model_dir), str(models), ExportOptions(quantization="none", name="seg_tfl"))
    return models


def import_make_model_dir():
    """``tests/cli/test_export.make_model_dir``. That module imports ``write_records`` from
    ``conftest``, the name this file also has: tests/conftest.py is put under it for the import."""
    sys.path[:0] = [str(REPO / "tests" / "cli"), str(REPO / "tests")]
    ours = sys.modules.pop("conftest", None)
    try:
        from test_export import make_model_dir
    finally:
        del sys.path[:2]
        if ours is not None:
            sys.modules["conftest"] = ours
    return make_model_dir


def request(url, data=None, method=None, headers=None):
    return http_request(url, data, method, headers, REQUEST_TIMEOUT_S)


class Server(ServerProcess):
    """``deeplab-serve`` of this worktree (PYTHONPATH) in a subprocess on free ports of 127.0.0.1."""

    def __init__(self, model, *flags):
        super().__init__(str(model), *flags, env={"PYTHONPATH": str(REPO)})


@pytest.fixture(scope="session")
def server(models_dir):
    """Both models, small limits: 4 instances a request, 1 MB bodies, 1 MP images."""
    started = Server(
        models_dir, "--max_batch_size=4", "--max_body_mb=1", "--max_pixels=1000000", "--batch_timeout_ms=5"
    )
    yield started
    assert started.terminate() == 0, "".join(started.stderr)[-2000:]


def wait_until(condition, timeout_s=10.0, step_s=0.02):
    """Polls ``condition()`` until true or ``timeout_s``; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(step_s)
    return value
