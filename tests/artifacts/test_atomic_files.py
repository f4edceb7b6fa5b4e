"""The one atomic writer's variants: each writes whole files or none."""

import json
import os

import numpy as np
import pytest

from deeplab_tf.artifacts import files


@pytest.mark.parametrize(
    "write, value, read",
    [
        (files.write_text_atomic, "ß\n", lambda p: open(p, encoding="utf-8").read()),
        (files.write_json_atomic, {"a": [1, 2]}, files.read_json),
        (files.write_npz_atomic, {"x": np.arange(3)}, lambda p: {k: v.tolist() for k, v in np.load(p).items()}),
    ],
)
def test_variants_write_whole_files_in_a_new_folder(tmp_path, write, value, read):
    path = tmp_path / "new" / "file"
    write(path, value)
    expected = {"x": [0, 1, 2]} if isinstance(value, dict) and "x" in value else value
    assert read(path) == expected
    assert os.listdir(tmp_path / "new") == ["file"]


def test_json_is_indented_with_numpy_values_and_a_final_newline(tmp_path):
    path = tmp_path / "report.json"
    files.write_json_atomic(path, {"miou": np.float32(0.5), "counts": np.array([1, 2])})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and '\n  "miou": 0.5' in text and json.loads(text)["counts"] == [1, 2]
    with pytest.raises(ValueError):
        files.write_json_atomic(path, {"miou": float("nan")}, allow_nan=False)
    assert json.loads(path.read_text(encoding="utf-8"))["miou"] == 0.5  # the old file, whole
    assert os.listdir(tmp_path) == ["report.json"]
    assert files.read_json(tmp_path / "missing.json") is None


def test_a_failed_npz_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "overlays.npz"
    files.write_npz_atomic(path, {"x": np.zeros(2)})

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space left"):
        files.write_npz_atomic(path, {"x": np.ones(1000)})
    assert os.listdir(tmp_path) == ["overlays.npz"]
    with np.load(path) as archive:
        assert archive["x"].tolist() == [0.0, 0.0]
