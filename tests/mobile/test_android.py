"""mobile/android: segcore's JUnit4 tests on the golden vectors (Debian's kotlinc), the app's manifest and
resources through Debian's aapt, and every Kotlin source parsing with tree-sitter.

The tools come from Debian (kotlin, junit4, libhamcrest-java, aapt, android-framework-res). Without them
the tests skip, unless DEEPLAB_REQUIRE_ANDROID_TOOLS=1 (set by .ci/run after installing them): then a
missing tool is a failure, so CI cannot pass by skipping.
"""

import os
import pathlib
import re
import shutil
import subprocess

import pytest
from syntax_check import files_with_errors, parser_for, syntax_errors

ANDROID = pathlib.Path(__file__).resolve().parents[2] / "mobile" / "android"
SEGCORE = ANDROID / "segcore"
APP = ANDROID / "app"
FRAMEWORK_RES = pathlib.Path("/usr/share/android-framework-res/framework-res.apk")


def _require(what: str, present: bool, install: str):
    if present:
        return
    message = f"{what} is not installed ({install})"
    if os.environ.get("DEEPLAB_REQUIRE_ANDROID_TOOLS") == "1":
        pytest.fail(f"{message}, and DEEPLAB_REQUIRE_ANDROID_TOOLS=1 says it must be")
    pytest.skip(message)


def test_segcore_junit_on_golden_vectors(tmp_path):
    """Compiles segcore + tests with kotlinc 1.3 and runs JUnit4: hand cases, model cards, every golden case."""
    _require("kotlinc", shutil.which("kotlinc") is not None, "apt-get install kotlin")
    _require("junit4", pathlib.Path("/usr/share/java/junit4.jar").is_file(), "apt-get install junit4 libhamcrest-java")
    run = subprocess.run(
        [str(SEGCORE / "run_tests.sh"), str(tmp_path)], capture_output=True, text=True, timeout=600, check=False
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    ran = re.search(r"^OK \((\d+) tests\)", out, re.MULTILINE)
    assert ran and int(ran.group(1)) >= 60, out[-3000:]
    # Every case with a raw model output agreed on every mask pixel.
    agreements = re.findall(r"mask_model from output.bin agreement ([\d.]+)%", out)
    assert agreements and all(float(a) == 100.0 for a in agreements), out[-3000:]
    # Sensor frames turned upright (segcore Orientation) give the golden input tensor: 4 angles x back/front.
    assert "rotation: 4 angles x back/front camera give the golden input tensor" in out, out[-3000:]
    # Bug 6: what the app says on the GPU, from the model's ops (segcore GpuDelegate; the app model's mask end).
    assert "deeplabv3_pascal_257_int8_mask.tflite: GPU: ARG_MAX, CAST, RESHAPE x2, CONCATENATION x2, STRIDED_SLICE run on the CPU" in out
    assert "tiny_int8_mask.tflite: GPU: ARG_MAX, CAST run on the CPU (2 of 6 ops)" in out, out[-3000:]


def _kotlin_words(source: str, name: str) -> list[str]:
    """The words of the raw string ``val NAME = \"\"\"...\"\"\"`` in a segcore Kotlin source."""
    found = re.search(rf'val {name} = """(.*?)"""', source, re.DOTALL)
    assert found, f"no {name} in the Kotlin source"
    return found.group(1).split()


def test_segcore_gpu_check_names_the_ops_of_the_python_check():
    """segcore's GpuDelegate (the Android app's GPU report) and deeplab-bench's GPU check take the same op list,
    and its builtin op names are the schema's, in code order."""
    from ai_edge_litert import schema_py_generated as schema

    from deeplab_tf.export.gpu_delegate import GPU_DELEGATE_OPS

    source = (SEGCORE / "src/main/kotlin/com/deeplabtf/segcore/GpuDelegate.kt").read_text()
    assert set(_kotlin_words(source, "OPS")) == set(GPU_DELEGATE_OPS)
    names = _kotlin_words(source, "NAMES")
    by_code = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    assert len(names) > 150
    assert names == [by_code[code] for code in range(len(names))]


def _gradle_setting(name: str) -> str:
    """A ``name = value`` setting of app/build.gradle.kts (what AGP merges into the manifest)."""
    found = re.search(rf"^\s*{name}\s*=\s*\"?([\w.]+)\"?\s*$", (APP / "build.gradle.kts").read_text(), re.MULTILINE)
    assert found, f"app/build.gradle.kts sets no {name}"
    return found.group(1)


def test_manifest_and_resources_compile_with_aapt(tmp_path):
    """The app's AndroidManifest.xml and res/ package against the Android framework resources.

    As AGP 8 does, the package name comes from the build's ``namespace`` (the source manifest has none)."""
    _require("aapt", shutil.which("aapt") is not None, "apt-get install aapt")
    _require("android-framework-res", FRAMEWORK_RES.is_file(), "apt-get install android-framework-res")
    main = APP / "src" / "main"
    source = (main / "AndroidManifest.xml").read_text()
    assert "package=" not in source, "AGP 8 takes the package from namespace; drop package= from the manifest"
    manifest = tmp_path / "AndroidManifest.xml"
    source = source.replace("${applicationId}", _gradle_setting("applicationId"))  # a placeholder AGP fills in
    manifest.write_text(source.replace("<manifest ", f'<manifest package="{_gradle_setting("namespace")}" ', 1))
    apk = tmp_path / "app.apk"
    cmd = ["aapt", "package", "-f", "-M", str(manifest), "-S", str(main / "res"), "-I", str(FRAMEWORK_RES)]
    cmd += ["--min-sdk-version", _gradle_setting("minSdk"), "--target-sdk-version", _gradle_setting("targetSdk")]
    cmd += ["--version-code", _gradle_setting("versionCode"), "--version-name", _gradle_setting("versionName")]
    run = subprocess.run(cmd + ["-F", str(apk)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and apk.is_file(), run.stdout + run.stderr
    badging = subprocess.run(["aapt", "dump", "badging", str(apk)], capture_output=True, text=True, check=False)
    assert "package: name='com.deeplabtf.segment'" in badging.stdout, badging.stdout
    assert "uses-permission: name='android.permission.CAMERA'" in badging.stdout, badging.stdout
    assert "launchable-activity: name='com.deeplabtf.segment.MainActivity'" in badging.stdout, badging.stdout
    assert "sdkVersion:'24'" in badging.stdout, badging.stdout
    # Gallery mode needs no camera: the CAMERA permission must not make any camera a required feature
    # (stores hide an app that requires one from devices without it).
    required = re.findall(r"^\s*uses-(?:implied-)?feature: name='(android\.hardware\.camera[\w.]*)'", badging.stdout, re.M)
    assert required == [], badging.stdout
    assert "uses-feature-not-required: name='android.hardware.camera'" in badging.stdout, badging.stdout
    # The share sheet's FileProvider, with the paths resource it names.
    tree = subprocess.run(["aapt", "dump", "xmltree", str(apk), "AndroidManifest.xml"], capture_output=True, text=True)
    assert '"androidx.core.content.FileProvider"' in tree.stdout, tree.stdout
    assert '"com.deeplabtf.segment.files"' in tree.stdout, tree.stdout
    assert "share_paths.xml" in subprocess.run(["aapt", "list", str(apk)], capture_output=True, text=True).stdout


def test_every_kotlin_file_parses():
    """All .kt and .kts files under mobile/android parse with tree-sitter-kotlin (no ERROR or MISSING node)."""
    parser = parser_for("kotlin")
    files = sorted(ANDROID.rglob("*.kt")) + sorted(ANDROID.rglob("*.kts"))
    assert len(files) >= 15, files
    assert files_with_errors(parser, files, ANDROID) == {}


def test_the_parse_check_catches_broken_kotlin():
    parser = parser_for("kotlin")
    assert syntax_errors(parser, b"fun ok(x: Int): Int = x + 1\n") == []
    assert syntax_errors(parser, b"fun broken(x: Int { return x\n")


def _app_source(name: str) -> str:
    return (APP / "src" / "main" / "java" / "com" / "deeplabtf" / "segment" / name).read_text()


def test_app_code_calls_the_tested_core_decisions():
    """The app cannot be compiled here, so every decision it takes is segcore's (JUnit above): this checks the
    app code calls it and that the old unchecked paths are gone."""
    frames, model = _app_source("Frames.kt"), _app_source("SegmentViewModel.kt")
    catalog, segmenter, camera = _app_source("ModelCatalog.kt"), _app_source("LiteRtSegmenter.kt"), _app_source("ui/CameraFeed.kt")
    # Bug 1: the frame is turned upright (rotation, crop, front-camera mirror) before inference, not the overlay after.
    assert re.search(r"Orientation\.upright\(sensor, frame\.imageInfo\.rotationDegrees, mirrored, CropRect\(", frames)
    assert "postRotate" not in frames and "Frames.uprightFrame(frame, mirrored = s.frontCamera, buffers)" in model
    # Bug 2: targetRotation follows the display while the activity handles rotation itself.
    assert "analysis.targetRotation = rotation" in camera and "preview.targetRotation = rotation" in camera
    assert "registerDisplayListener" in camera
    # The live preview: the camera picture at camera rate, the model-resolution mask over it from the same
    # viewport (so the analysis cropRect is what the view shows), no image-size blend on the inference thread.
    assert "previewView.viewPort?.let { group.setViewPort(it) }" in camera and "ContentScale.FillBounds" in camera
    assert "segmentLive(Frames.uprightFrame(frame, mirrored = s.frontCamera, buffers))" in model
    assert "active.segmentLive(image, s.resizeMode, s.opacity, s.only)" in model and "rate.add(" in model
    # Bugs 3 and 5: masks kept with their model, redraws refused for another card, changes decided by Redo.
    assert "shown = LabelledMask(active.card, image" in model and "mask.recolour(card, s.opacity, s.only)" in model
    assert "is Overlay.Refused -> still?.let { segment(it) }" in model
    assert "val redo = Redo.of(before, after, still != null)" in model
    assert "Postprocess.overlay" not in model  # no recolouring outside LabelledMask
    # Bug 3: worker errors end in the UI state; the catalog survives unreadable assets.
    assert "private fun onWorker(block: () -> Unit) = worker.execute { guarded(block) }" in model
    assert "worker.execute {" not in model.replace("worker.execute { guarded(block) }", "").replace(
        "worker.execute { segmenter?.close(); segmenter = null }", "")
    assert "catch (e: IOException)" in catalog
    # Bug 4: each card checked against its model's tensors (the contract's bad models refused with its messages).
    assert "val model = ModelFile.read(card.modelFile, bytes)\n                model.checkCard(card)" in catalog
    # Bug 6: the GPU falls back to the CPU and the screen says so.
    assert "AcceleratorFallback.compile(s.accelerator, card.modelFile)" in model
    legend = (APP / "src/main/java/com/deeplabtf/segment/ui/Legend.kt").read_text()
    assert "notice = compiled.notice" in model and "state.notice?.let" in legend
    # Bug 6: on the GPU, whether the model runs there whole (segcore GpuDelegate, from the model's ops).
    assert "CatalogEntry(name, card, null, GpuDelegate.check(model))" in catalog
    assert "models.getOrNull(selected)?.gpu?.caption(it)" in model and "state.gpuCaption?.let" in legend
    # Share: the overlay, the mask itself (segcore LabelledMask.maskColours) and the cut-out.
    assert "mask.maskColours()), java.io.File(folder, \"mask.png\")" in model
    # Bug 8: no buffers left open when the output buffers fail; straight alpha; EXIF on API 24-27.
    assert "created.forEach { it.close() }" in segmenter
    assert "getPixels(" in frames and "copyPixelsToBuffer" not in frames
    assert "Orientation.fromExif(tag)" in frames and "inPremultiplied = false" in frames
    # Bug 8: the camera path reuses its buffers and mask bitmaps (segcore BufferRing), no new ones per frame.
    assert "val bytes = buffers.sensor.next(buffer.remaining(), 1)" in frames and "ByteArray(buffer.remaining())" not in frames
    assert "buffers.upright.next(it, 1)" in frames and "val masks = BufferRing(3)" in frames
    assert "Frames.fill(buffers.masks.next(live.mask.width, live.mask.height), live.rgba)" in model
    live = model[model.index("private fun segmentLive"):model.index("private fun legendOf")]
    assert "toBitmap(" not in live and "createBitmap" not in live
