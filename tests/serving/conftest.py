"""deeplab-serve fixtures: a small exported model (a SavedModel in TF Serving's NAME/VERSION
layout and a float .tflite with its card) and a server started as a subprocess on 127.0.0.1."""

import importlib.util

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


def _root_helpers() -> dict:
    """tests/conftest.py's helpers (``write_records``, ``record_sample``...), not its fixtures.

    pytest imports this file as the module ``conftest``, as it does tests/conftest.py, and
    test modules elsewhere import helpers from ``conftest`` by name (``from conftest import
    write_records``): whichever of the two they find, the helpers are there.
    """
    spec = importlib.util.spec_from_file_location("_tests_conftest_helpers", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def is_fixture(value):
        return type(value).__name__ == "FixtureFunctionDefinition" or hasattr(value, "_pytestfixturefunction")

    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and not is_fixture(value) and name not in globals() and name != "pytest"
    }


globals().update(_root_helpers())
