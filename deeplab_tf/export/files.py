"""Writing export artifacts so that a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` all at once, or not at all.

    The bytes go to a temporary file in the same directory, are flushed to disk
    and then renamed over ``path`` (``os.replace`` is atomic within one file
    system). On any error the temporary file is removed and an existing
    ``path`` is left as it was.

    Raises:
      OSError: the directory does not exist or is not writable, disk full...
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
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
