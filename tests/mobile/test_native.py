"""mobile/native: configures and builds the C++ core with CMake and runs its ctest tests
(pre/post-processing hand cases, the golden cases through libLiteRt.so, bad models).

The build goes to a cache folder (DEEPLAB_NATIVE_BUILD, default ~/.cache/deeplab_tf/segcore-<hash of
the source path>) so that reruns only rebuild what changed.
"""

import hashlib
import os
import pathlib
import shutil
import subprocess

import pytest

NATIVE = pathlib.Path(__file__).resolve().parents[2] / "mobile" / "native"


def _build_dir() -> pathlib.Path:
    if os.environ.get("DEEPLAB_NATIVE_BUILD"):
        return pathlib.Path(os.environ["DEEPLAB_NATIVE_BUILD"])
    key = hashlib.sha1(str(NATIVE).encode()).hexdigest()[:10]
    return pathlib.Path.home() / ".cache" / "deeplab_tf" / f"segcore-{key}"


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    return result


@pytest.fixture(scope="module")
def build_dir():
    missing = [tool for tool in ("cmake", "ctest", "g++") if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (Debian: apt-get install cmake g++ zlib1g-dev)"
        if os.environ.get("DEEPLAB_REQUIRE_NATIVE_TOOLS"):  # CI installs them: absent is a failure there
            pytest.fail(message)
        pytest.skip(message)
    build = _build_dir()
    build.mkdir(parents=True, exist_ok=True)
    _run(["cmake", "-S", NATIVE, "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
    _run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2)])
    return build


def _shared_dir() -> pathlib.Path | None:
    """../shared (or DEEPLAB_SHARED) if it holds the reference model, as tests/conftest.py finds it."""
    shared = pathlib.Path(os.environ.get("DEEPLAB_SHARED", NATIVE.parents[2] / "shared"))
    return shared if (shared / "reference" / "deeplabv3_257_mv_gpu.tflite").is_file() else None


def test_ctest_passes(build_dir):
    """Every ctest test passes; the reference cases run when ../shared is there (else skip, exit 77).
    Each golden model also runs on 2 CPU threads and gives the mask of 1 thread; the GPU runs or is refused
    with a message naming the missing accelerator."""
    shared = _shared_dir()
    env = dict(os.environ, **({"DEEPLAB_SHARED": str(shared)} if shared else {}))
    result = _run(["ctest", "--test-dir", build_dir, "--output-on-failure", "-V"], env=env)
    status = {}
    for line in result.stdout.splitlines():
        if "Test #" in line and ("Passed" in line or "Skipped" in line or "Failed" in line):
            name = line.split("Test #", 1)[1].split(":", 1)[1].split()[0]
            status[name] = "Passed" if "Passed" in line else ("Skipped" if "Skipped" in line else "Failed")
    expected = {"processing", "golden_project", "golden_reference", "bad_models", "accelerators", "app_logic"}
    assert set(status) == expected, result.stdout[-3000:]
    assert status["golden_reference"] == ("Passed" if shared else "Skipped")
    assert all(status[name] == "Passed" for name in expected - {"golden_reference"})
    figures = [line for line in result.stdout.splitlines() if "runner mask = Python mask" in line]
    assert len(figures) == 6 + (4 if shared else 0), result.stdout[-3000:]
    assert all("1 and 2 threads: same mask" in line for line in figures), figures
    assert "after compiling another with 3" in result.stdout  # the thread count reached XNNPACK (Linux)
    assert "GPU: refused: LiteRT has no GPU accelerator here" in result.stdout or "GPU: ran;" in result.stdout
    # The runner's library folder reached LiteRT: its log names the GPU libraries it tried there.
    assert "Attempting to load GPU accelerator(" in result.stdout
    assert "/no_gpu_library_here/libLiteRt" in result.stdout, result.stdout[-3000:]
    # Camera frames upright before inference give the golden input at every rotation, back and front;
    # the GPU's failure left a CPU segmenter and said so.
    assert "rotation: 8 of 8 sensor frames (4 angles x back/front) give the golden input" in result.stdout
    assert "fallback: GPU unavailable (LiteRT has no GPU accelerator here" in result.stdout
    # LiteRT says which accelerator took the whole model: XNNPACK has no ARG_MAX (the mask output's).
    for name, whole in (("smoke_float", "yes"), ("smoke_int8", "yes"), ("tiny_int8_mask", "no")):
        assert f"CPU: {name} fully accelerated: {whole}" in result.stdout, result.stdout[-3000:]
    # The live preview's model-resolution mask, scaled to the image, is the golden mask.
    assert "live: 3 of 3 golden cases: the preview mask scaled to the image = mask_image" in result.stdout
