"""Writing files so that a reader never sees half of one: the project's one atomic writer."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile

import numpy as np


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` all at once, or not at all.

    The bytes go to a temporary file in the same directory (created if missing), are
    flushed to disk and then renamed over ``path`` (``os.replace`` is atomic within one
    file system). On any error the temporary file is removed and an existing ``path``
    is left as it was.

    Raises:
      OSError: the directory is not writable, disk full...
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes it 0600
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """``text`` as UTF-8, atomically (``write_bytes_atomic``)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_text(data, *, allow_nan: bool = True) -> str:
    """``data`` as the project writes JSON: indented by 2, a final newline, NumPy values as numbers."""
    return json.dumps(data, indent=2, default=_jsonable, allow_nan=allow_nan) + "\n"


def write_json_atomic(path: str | os.PathLike, data, *, allow_nan: bool = True) -> None:
    """``data`` as indented JSON (``json_text``), atomically.

    Raises:
      TypeError: a value JSON cannot hold; ValueError: NaN or infinity with ``allow_nan=False``.
    """
    write_text_atomic(path, json_text(data, allow_nan=allow_nan))


def write_npz_atomic(path: str | os.PathLike, arrays: dict) -> None:
    """``arrays`` as a compressed .npz (``np.savez_compressed``), atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in ``path``, or None when there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
