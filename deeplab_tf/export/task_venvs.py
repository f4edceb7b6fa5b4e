"""The app runtimes' ImageSegmenters, each in a virtualenv of its own.

    python -m deeplab_tf.export.task_venvs create [tflite_support] [mediapipe]

An exported model must segment correctly in the TFLite Task Library (the C++
ImageSegmenter the Android demo app's task-vision library runs; the
``tflite-support`` wheel carries it) and in MediaPipe Tasks. Neither installs
beside TensorFlow 2.21 (tflite-support pins protobuf<4 and numpy<2, mediapipe
absl-py~=2.3), so each gets a virtualenv under ``venv_root()``, and
``segment`` runs ``task_segment.py`` in it on a model and a batch of images.

A venv is complete when its stamp file holds its current requirements (the
stamp is written last); ``create`` skips complete venvs and rebuilds others.
tflite-support's native library also needs libusb-1.0 from the system
(Debian: ``apt-get install libusb-1.0-0``).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import numpy as np

# Pinned: a check that passed once keeps meaning the same thing.
REQUIREMENTS = {
    "tflite_support": ("tflite-support==0.4.4", "protobuf==3.20.3", "numpy==1.26.4"),
    "mediapipe": ("mediapipe==1.2.2",),
}
IMPORT_CHECKS = {
    "tflite_support": "from tflite_support.task import vision",
    "mediapipe": "from mediapipe.tasks.python import vision",
}
STAMP = "deeplab_requirements.txt"
RUNNER = pathlib.Path(__file__).with_name("task_segment.py")
SYSTEM_HINTS = {"libusb-1.0": "tflite-support needs the system's libusb-1.0 (Debian: apt-get install libusb-1.0-0)"}


def venv_root() -> pathlib.Path:
    """``$DEEPLAB_TASK_VENVS``, else ``$XDG_CACHE_HOME/deeplab_tf/venvs`` (default ``~/.cache``)."""
    if os.environ.get("DEEPLAB_TASK_VENVS"):
        return pathlib.Path(os.environ["DEEPLAB_TASK_VENVS"])
    cache = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(cache) / "deeplab_tf" / "venvs"


def _check_runtime(runtime: str) -> None:
    if runtime not in REQUIREMENTS:
        raise ValueError(f"unknown runtime {runtime!r}; runtimes: {sorted(REQUIREMENTS)}")


def venv_python(runtime: str) -> pathlib.Path | None:
    """The Python of ``runtime``'s complete venv, or None when it is absent or stale."""
    _check_runtime(runtime)
    venv = venv_root() / runtime
    python, stamp = venv / "bin" / "python", venv / STAMP
    if not python.exists() or not stamp.exists() or stamp.read_text() != "\n".join(REQUIREMENTS[runtime]) + "\n":
        return None
    return python


def _run(command: list, what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if result.returncode:
        output = (result.stdout + result.stderr).strip()
        hints = [hint for key, hint in SYSTEM_HINTS.items() if key in output]
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}):\n{output[-3000:]}" + "".join(f"\n{h}" for h in hints)
        )
    return result


def _install(runtime: str) -> None:
    venv = venv_root() / runtime
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", venv], f"creating the {runtime} venv")
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, *REQUIREMENTS[runtime]], f"pip install {' '.join(REQUIREMENTS[runtime])}")
    _run([venv / "bin" / "python", "-c", IMPORT_CHECKS[runtime]], f"importing {runtime} in {venv}")
    (venv / STAMP).write_text("\n".join(REQUIREMENTS[runtime]) + "\n")


def create(runtimes: tuple[str, ...] = tuple(REQUIREMENTS)) -> dict[str, float]:
    """Creates the venvs of ``runtimes`` that are absent or stale.

    Returns:
      ``{runtime: seconds}`` spent on each (0 for a venv already complete).

    Raises:
      RuntimeError: pip failed, or the runtime does not import (e.g. a missing
        system library; the message says which package provides it).
    """
    for runtime in runtimes:
        _check_runtime(runtime)
    seconds = dict.fromkeys(runtimes, 0.0)
    for runtime in runtimes:
        if venv_python(runtime) is None:
            start = time.monotonic()
            _install(runtime)
            seconds[runtime] = time.monotonic() - start
    return seconds


class Segmentation(NamedTuple):
    masks: np.ndarray  # category masks uint8 [N, H, W]
    labels: list[str]  # the class names the runtime read from the metadata
    metadata_json: str | None  # tflite_support only: the metadata as its own parser reads it


def segment(runtime: str, model_path: str | os.PathLike, images: np.ndarray) -> Segmentation:
    """Segments ``images`` with ``runtime``'s ImageSegmenter (in its venv) and the model's metadata.

    Args:
      runtime: "tflite_support" (TFLite Task Library) or "mediapipe".
      model_path: a .tflite with metadata (``deeplab_tf.export.metadata``).
      images: uint8 RGB [N, H, W, 3].

    Returns:
      The category masks, the labels the runtime read, and (tflite_support)
      the metadata as JSON from tflite-support's own parser.

    Raises:
      FileNotFoundError: the runtime's venv is absent or stale (see ``create``).
      RuntimeError: the runtime rejected the model or failed.
    """
    python = venv_python(runtime)
    if python is None:
        raise FileNotFoundError(
            f"no complete {runtime} venv in {venv_root()}: run `python -m deeplab_tf.export.task_venvs create`"
        )
    images = np.asarray(images)
    with tempfile.TemporaryDirectory(prefix="deeplab_task_") as folder:
        inputs, outputs = pathlib.Path(folder, "images.npy"), pathlib.Path(folder, "masks.npz")
        np.save(inputs, images)
        # -I: the runner's folder must not shadow the standard library (export/inspect.py)
        command = [python, "-I", RUNNER, f"--runtime={runtime}", f"--model={model_path}", f"--images={inputs}"]
        # Run outside the project's directories: nothing there may shadow the venv's packages.
        _run([*command, f"--output={outputs}"], f"{runtime} ImageSegmenter on {model_path}", cwd=folder)
        with np.load(outputs) as result:
            metadata_json = str(result["metadata_json"]) if "metadata_json" in result else None
            return Segmentation(result["masks"], [str(label) for label in result["labels"]], metadata_json)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "create":
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    for runtime, seconds in create(tuple(argv[2:]) or tuple(REQUIREMENTS)).items():
        state = f"installed in {seconds:.0f} s" if seconds else "already complete"
        print(f"task_venvs: {runtime} venv in {venv_root() / runtime}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
