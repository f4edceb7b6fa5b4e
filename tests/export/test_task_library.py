"""An export with metadata in the app runtimes' ImageSegmenters, each in its own venv
(deeplab_tf.export.task_venvs): the TFLite Task Library (what the Android demo app's
task-vision library runs) and MediaPipe Tasks. Their category masks agree with our
own inference (LiteRT + argmax), they read the labels from the metadata, and
tflite-support's own metadata parser reads what ``read_metadata`` reads.

Skipped when a venv is absent (``python -m deeplab_tf.export.task_venvs create``
makes them); CI makes them and sets DEEPLAB_REQUIRE_TASK_VENVS=1, which turns
the skip into a failure."""

import json
import os

import numpy as np
import pytest
from test_metadata import EXPORTS, info_for
from test_tflite import V3PLUS, exported, images, normalize

from deeplab_tf.export.inspect import run_tflite
from deeplab_tf.export.metadata import add_metadata, read_metadata
from deeplab_tf.export.task_venvs import REQUIREMENTS, create, segment, venv_python, venv_root

MIN_AGREEMENT = 0.995


def rounded(tree):
    """``tree`` with floats to 6 significant digits (as flatc's JSON prints float32)."""
    if isinstance(tree, dict):
        return {key: rounded(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [rounded(value) for value in tree]
    return float(f"{tree:.6g}") if isinstance(tree, float) else tree


@pytest.fixture(params=sorted(REQUIREMENTS))
def runtime(request):
    if venv_python(request.param) is None:
        reason = f"no {request.param} venv in {venv_root()}: `python -m deeplab_tf.export.task_venvs create` makes it"
        if os.environ.get("DEEPLAB_REQUIRE_TASK_VENVS") == "1":
            pytest.fail(f"{reason} (DEEPLAB_REQUIRE_TASK_VENVS=1 requires it)")
        pytest.skip(reason)
    return request.param


@pytest.mark.parametrize("input_dtype", EXPORTS)
def test_segmenter_agrees_with_our_inference(runtime, input_dtype, tmp_path):
    plain = exported(V3PLUS, *EXPORTS[input_dtype])
    info = info_for(plain, input_dtype)
    model = tmp_path / "model.tflite"
    model.write_bytes(add_metadata(plain, info))
    pixels = images(4)
    masks, labels, metadata_json = segment(runtime, model, pixels)

    inputs = pixels if input_dtype == "uint8" else normalize(pixels, V3PLUS)
    ours = np.concatenate([run_tflite(plain, image) for image in inputs]).argmax(-1)
    assert len(np.unique(ours)) >= 3, "a near-constant mask would agree trivially"
    assert labels == list(info.labels)
    assert masks.shape == ours.shape
    agreement = (masks == ours).mean()
    print(f"{runtime} {input_dtype}: category mask agreement {agreement:.5f}")
    assert agreement >= MIN_AGREEMENT
    if runtime == "tflite_support":  # every field where the schema puts it (MediaPipe has no such parser)
        ours = read_metadata(model.read_bytes())
        del ours["files"], ours["min_runtime_version"]
        assert rounded(json.loads(metadata_json)) == rounded(ours)


def test_missing_venv_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPLAB_TASK_VENVS", str(tmp_path))
    assert venv_python("mediapipe") is None
    with pytest.raises(FileNotFoundError, match="no complete mediapipe venv in .*task_venvs create"):
        segment("mediapipe", tmp_path / "model.tflite", images(1))
    with pytest.raises(ValueError, match="unknown runtime 'tflite'; runtimes: \\['mediapipe', 'tflite_support'\\]"):
        create(("tflite",))
