"""write_bytes_atomic: all or nothing."""

import os

import pytest

from deeplab_tf.artifacts.files import write_bytes_atomic


def test_write_bytes_atomic_writes_and_replaces(tmp_path):
    path = tmp_path / "model.tflite"
    write_bytes_atomic(path, b"first")
    write_bytes_atomic(str(path), b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["model.tflite"]


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, existing):
    path = tmp_path / "model.tflite"
    if existing:
        path.write_bytes(b"old model")

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space left"):
        write_bytes_atomic(path, b"x" * 100_000)
    assert os.listdir(tmp_path) == (["model.tflite"] if existing else [])
    if existing:
        assert path.read_bytes() == b"old model"
