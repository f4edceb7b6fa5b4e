"""Test set-up: Keras 2 via deeplab_tf, quiet TensorFlow, tiers and shared-data paths."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

import deeplab_tf  # noqa: E402,F401  (selects Keras 2 before TensorFlow loads)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("DEEPLAB_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """../shared (real data, reference model); skips the test when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent")
    return SHARED


@pytest.fixture(autouse=True)
def _clear_keras_session():
    import tf_keras as keras

    yield
    keras.backend.clear_session()
