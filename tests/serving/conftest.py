"""deeplab-serve fixtures: a small exported model (a SavedModel in TF Serving's NAME/VERSION
layout and a float .tflite with its card) and servers started as subprocesses on 127.0.0.1."""

import json
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120
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


def request(url, data=None, method=None, headers=None, timeout=REQUEST_TIMEOUT_S):
    """(status, headers, body bytes) of one HTTP request; error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Server:
    """``deeplab-serve`` in a subprocess on free ports of 127.0.0.1."""

    def __init__(self, model, *flags):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
        command = [
            sys.executable,
            "-m",
            "deeplab_tf.cli.serve",
            f"--model={model}",
            "--port=0",
            "--grpc_port=0",
            *flags,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
        )
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()
        self.stderr = []
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()
        try:
            ports = json.loads(lines.get(timeout=START_TIMEOUT_S))
        except queue.Empty:
            self.process.kill()
            raise RuntimeError(
                f"deeplab-serve did not start in {START_TIMEOUT_S} s: {''.join(self.stderr)[-2000:]}"
            ) from None
        self.url = f"http://127.0.0.1:{ports['rest_port']}"
        self.grpc = f"127.0.0.1:{ports['grpc_port']}"

    def rss_kb(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))

    def get(self, path):
        return request(self.url + path)

    def post(self, path, data, headers=None):
        return request(self.url + path, data, "POST", headers)

    def post_json(self, path, body):
        return self.post(path, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def terminate(self, timeout=60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


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
