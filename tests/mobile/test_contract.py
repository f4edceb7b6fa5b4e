"""mobile/contract: the committed golden vectors are what make_golden.py makes (they cannot rot),
the committed models are what the export makes, and the NumPy reference algorithms behave as
README.md defines them on hand-checked cases."""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deeplab_tf.export.compare import ACROSS_CPUS, EXACT, bytes_difference, differences, output_difference
from deeplab_tf.export.inspect import run_tflite
from deeplab_tf.artifacts.model_card import read_model_card, validate_model_card

CONTRACT = pathlib.Path(__file__).resolve().parents[2] / "mobile" / "contract"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, CONTRACT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


make_golden = _load("make_golden")
algorithms = make_golden.algorithms


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _shared_or_absent():
    return make_golden.SHARED if (make_golden.SHARED / make_golden.REFERENCE).is_file() else None


# Case files computed by NumPy alone (bit-exact by the contract, on any CPU) and files that
# hold what the LiteRT interpreter computed (within the stated tolerance: another CPU's kernels
# may round the last bit of a float score, or a quantized score on a rounding boundary).
MASK_AGREEMENT = 0.999  # the contract's figure for a mask computed from a model run


def _compare_case_file(relative: str, new: pathlib.Path, old: pathlib.Path, outputs_equal: bool) -> str | None:
    if relative.endswith("/output.bin"):
        case = json.loads(old.with_name("case.json").read_text())["output"]
        read = lambda path: np.fromfile(path, case["dtype"]).reshape(case["shape"])  # noqa: E731
        return output_difference(read(new), read(old))
    if relative.endswith(".png"):
        a, b = make_golden.decode_png(new), make_golden.decode_png(old)
        if a.shape != b.shape:
            return f"PNG of shape {a.shape} against {b.shape}"
        same = np.all(a == b, axis=-1) if a.ndim == 3 else a == b
        derived = relative.rsplit("/", 1)[-1] in ("mask_model.png", "mask_image.png", "overlay.png")
        needed = 1.0 if outputs_equal or not derived else MASK_AGREEMENT
        return None if same.mean() >= needed else f"{same.mean():.5f} of pixels equal (needed {needed})"
    if relative.endswith("/case.json") and not outputs_equal:
        a, b = json.loads(new.read_text()), json.loads(old.read_text())
        counts = [{e["id"]: e["pixels"] for e in (x["classes_present"] or [])} for x in (a, b)]
        pixels = a["image"]["height"] * a["image"]["width"]
        moved = sum(abs(counts[0].get(k, 0) - counts[1].get(k, 0)) for k in {*counts[0], *counts[1]}) / 2
        if {**a, "classes_present": None} != {**b, "classes_present": None}:
            return "case.json differs beyond classes_present"
        return None if moved <= (1 - MASK_AGREEMENT) * pixels else f"classes_present: {moved} of {pixels} pixels moved"
    return bytes_difference(new.read_bytes(), old.read_bytes())


def test_cases_regenerate_identically(tmp_path):
    """From the committed models, make_golden.py writes the committed cases (cases of ../shared only
    when present): what NumPy computes (input tensors, images, card.json) byte for byte; the model
    outputs within the contract's tolerance (deeplab_tf.export.compare); masks, overlays and class
    counts exactly where the outputs came out identical, else on MASK_AGREEMENT of the pixels."""
    shutil.copytree(CONTRACT / "models", tmp_path / "models")
    shared = _shared_or_absent()
    written = make_golden.write_cases(tmp_path, shared or tmp_path / "no-shared")
    expected = {case.name for case in make_golden.cases()}
    if shared is None:
        expected = {name for name in expected if not name.startswith("reference_")}
    assert set(written) == expected
    committed = [f for f in _files(CONTRACT / "cases") if f.split("/")[0] in expected]
    assert _files(tmp_path / "cases") == committed
    outputs_equal = {}  # case -> the model's output reproduced bit for bit (always, without a stored output)
    for name in expected:
        output = CONTRACT / "cases" / name / "output.bin"
        outputs_equal[name] = (
            not output.is_file() or (tmp_path / "cases" / name / "output.bin").read_bytes() == output.read_bytes()
        )
    problems = []
    for relative in [
        *(f"cases/{f}" for f in committed),
        "golden.json",
        *(f"images/{f}" for f in _files(CONTRACT / "images")),
    ]:
        case = relative.split("/")[1] if relative.startswith("cases/") else None
        problem = _compare_case_file(relative, tmp_path / relative, CONTRACT / relative, outputs_equal.get(case, True))
        if problem:
            problems.append(f"{relative}: {problem}")
    assert not problems, "rerun mobile/contract/make_golden.py if the change is meant:\n" + "\n".join(problems)


def test_models_reproduce_within_tolerance(tmp_path):
    """The committed models and bad models are what the export makes today (fixed seed), on any CPU:
    the same graph, op list, tensor names, types, shapes, zero points and metadata exactly; weights and
    quantization scales within deeplab_tf.export.compare.ACROSS_CPUS; on the contract's images their
    outputs within the output tolerance. Cards and label files byte for byte (no TF arithmetic in them).

    make_golden.py runs as a user runs it, in a process of its own: a process that has already traced
    and converted other models (as the suite's has) converted one bad model into another's graph."""
    command = [
        sys.executable,
        str(CONTRACT / "make_golden.py"),
        "--out",
        str(tmp_path),
        "--shared",
        str(tmp_path / "none"),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    )
    assert run.returncode == 0, run.stderr[-3000:]
    names = [f"models/{f}" for f in _files(CONTRACT / "models") if not f.startswith("deeplabv3_257")]
    names += [f"bad/{f}" for f in _files(CONTRACT / "bad")]
    assert sorted(f for f in _files(tmp_path) if f.startswith(("models/", "bad/"))) == sorted(names)
    problems = []
    for name in names:
        folder = name.split("/")[0]
        new, old = (tmp_path / name).read_bytes(), (CONTRACT / name).read_bytes()
        if name.endswith(".tflite"):
            found = differences(new, old, EXACT if folder == "bad" else ACROSS_CPUS)
            if folder == "models":
                found += [f"output on {key}: {problem}" for key, image in make_golden.images().items()
                          if (problem := output_difference(*(_run_on(m, image) for m in (new, old))))]  # fmt: skip
        else:
            found = [problem] if (problem := bytes_difference(new, old)) else []
        problems += [f"{name}: {line}" for line in found]
    assert not problems, "differs from a fresh export (rerun mobile/contract/make_golden.py if meant):\n" + "\n".join(
        problems
    )


def _run_on(tflite_bytes: bytes, pixels: np.ndarray) -> np.ndarray:
    card_size = make_golden.INPUT_SIZE
    resized, _ = algorithms.resize_pixels(pixels, card_size, "stretch")
    return run_tflite(tflite_bytes, resized[None, ..., :3])


@pytest.mark.parametrize("stem", ["smoke_float", "smoke_int8", "tiny_int8_mask"])
def test_cards_describe_their_models(stem):
    card = read_model_card(CONTRACT / "models" / f"{stem}.json")
    validate_model_card(card, (CONTRACT / "models" / card["model_file"]).read_bytes())
    labels = (CONTRACT / "models" / card["labels_file"]).read_text().splitlines()
    assert labels == [entry["name"] for entry in card["classes"]]


def test_reference_card_describes_the_reference(shared_dir):
    card = read_model_card(CONTRACT / "models" / "deeplabv3_257_mv_gpu.json")
    validate_model_card(card, (shared_dir / make_golden.REFERENCE).read_bytes())
    assert card["input"]["dtype"] == "float32" and card["input"]["normalization"]["mean"] == [127.5] * 3
    assert len(card["classes"]) == 21 and card["classes"][15]["name"] == "person"


def test_every_case_is_indexed_and_consistent():
    index = json.loads((CONTRACT / "golden.json").read_text())
    for name in index["cases"]:
        case = json.loads((CONTRACT / "cases" / name / "case.json").read_text())
        source = case["input"]
        if source["file"]:
            size = (CONTRACT / source["file"]).stat().st_size
            assert size == np.prod(source["shape"]) * np.dtype(source["dtype"]).itemsize
        else:  # a tensor too large to commit is given by its digest (the apps' tests recompute it)
            assert len(source["sha256"]) == 64 and int(source["sha256"], 16) >= 0, name
        if case["mask_image"]:
            mask = make_golden.decode_png(CONTRACT / case["mask_image"]["file"])
            assert mask.shape == (case["image"]["height"], case["image"]["width"])
            counts = {entry["id"]: entry["pixels"] for entry in case["classes_present"]}
            assert counts == {int(i): int(n) for i, n in zip(*np.unique(mask, return_counts=True), strict=True)}


# --- the reference algorithms on hand cases ----------------------------------------------------


def test_bilinear_same_size_is_identity_and_constant_stays_constant():
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (7, 5, 3)).astype(np.uint8)
    np.testing.assert_array_equal(algorithms.resize_bilinear(image, 7, 5), image)
    flat = np.full((9, 4, 3), 77, np.uint8)
    np.testing.assert_array_equal(algorithms.resize_bilinear(flat, 5, 13), np.full((5, 13, 3), 77))


def test_bilinear_halfway_rounds_up():
    # 1x2 -> 1x4 with half-pixel centres: x = 0.25 -> (clamped), 0.75 * 0 + 0.25 * 255 ...
    row = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    out = algorithms.resize_bilinear(row, 1, 4)[0, :, 0]
    np.testing.assert_array_equal(out, [0, 64, 191, 255])  # 63.75 -> 64, 191.25 -> 191


def test_letterbox_box_keeps_aspect_and_centres():
    assert algorithms.content_box((97, 131), (65, 81), "letterbox") == algorithms.Box(2, 0, 60, 81)
    assert algorithms.content_box((120, 75), (65, 81), "letterbox") == algorithms.Box(0, 20, 65, 41)
    assert algorithms.content_box((97, 131), (65, 81), "stretch") == algorithms.Box(0, 0, 65, 81)
    with pytest.raises(ValueError, match="letterbox"):
        algorithms.content_box((9, 9), (9, 9), "crop")


def test_int8_quantization_rounds_halves_away_from_zero_and_clamps():
    pixels = np.array([[[0, 1, 255]]], np.uint8)
    source = {"dtype": "int8", "normalization": {"mean": [0.0] * 3, "std": [1.0] * 3},
              "quantization": {"scale": 2.0, "zero_point": -3}}  # fmt: skip
    # 0/2 = 0 -> -3; 1/2 = 0.5 -> 1 -> -2; 255/2 = 127.5 -> 128 -> 125
    np.testing.assert_array_equal(algorithms.to_input_tensor(pixels, source)[0, 0, 0], [-3, -2, 125])
    source["quantization"] = {"scale": 0.5, "zero_point": 0}
    np.testing.assert_array_equal(algorithms.to_input_tensor(pixels, source)[0, 0, 0], [0, 2, 127])


def test_argmax_ties_go_to_the_lowest_class_and_masks_out_of_range_fail():
    scores = np.array([[[[3, 7, 7], [1, 0, 0]]]], np.int8)
    np.testing.assert_array_equal(algorithms.output_to_mask(scores, "scores", 3), [[1, 0]])
    with pytest.raises(ValueError, match="0..2"):
        algorithms.output_to_mask(np.array([[[0, 3]]], np.uint8), "mask", 3)
    with pytest.raises(ValueError, match=r"\[1, H, W, 4\]"):
        algorithms.output_to_mask(scores, "scores", 4)


def test_mask_back_to_image_crops_the_letterbox_and_overlay_blends():
    mask = np.zeros((4, 4), np.uint8)
    mask[1:3] = [[1, 1, 2, 2], [1, 1, 2, 2]]
    back = algorithms.mask_to_image(mask, algorithms.Box(1, 0, 2, 4), (4, 4), (2, 8))
    np.testing.assert_array_equal(back, [[1, 1, 1, 1, 2, 2, 2, 2]] * 2)
    image = np.full((2, 8, 3), 100, np.uint8)
    colors = [[0, 0, 0], [255, 0, 0], [0, 255, 0]]
    np.testing.assert_array_equal(algorithms.overlay(image, back, colors, 0)[..., :3], image)
    blended = algorithms.overlay(image, back, colors, 128)
    assert blended[0, 0].tolist() == [(100 * 127 + 255 * 128 + 127) // 255, (100 * 127 + 127) // 255, 50, 255]
