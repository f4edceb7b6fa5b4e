"""deeplab-serve fixtures: a small exported model (a SavedModel in TF Serving's NAME/VERSION
layout and a float .tflite with its card) and a server started as a subprocess on 127.0.0.1."""

import importlib.util
import pathlib
import sys

import pytest
from serving_helpers import REPO, Server, import_make_model_dir


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


@pytest.fixture(scope="session")
def server(models_dir):
    """Both models, small limits: 4 instances a request, 1 MB bodies, 1 MP images."""
    started = Server(
        models_dir, "--max_batch_size=4", "--max_body_mb=1", "--max_pixels=1000000", "--batch_timeout_ms=5"
    )
    yield started
    assert started.terminate() == 0, "".join(started.stderr)[-2000:]


def pytest_collect_file(file_path, parent):
    """pytest imported this file as the module ``conftest``, in place of tests/conftest.py; the
    test modules collected after this folder import helpers from that one (``from conftest
    import write_records``), so tests/conftest.py goes back under the name (once this file is
    loaded: pytest checks the name right after the import)."""
    current = sys.modules.get("conftest")
    if current is not None and pathlib.Path(current.__file__).resolve() == pathlib.Path(__file__).resolve():
        spec = importlib.util.spec_from_file_location("conftest", REPO / "tests" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["conftest"] = module
