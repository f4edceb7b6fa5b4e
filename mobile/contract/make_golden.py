"""Writes mobile/contract/: small models with their cards, models the core must reject, golden cases.

    python mobile/contract/make_golden.py                 # everything, into mobile/contract/
    python mobile/contract/make_golden.py --out DIR       # elsewhere (the test compares the two)
    python mobile/contract/make_golden.py --skip_models   # cases only, from the models already in --out

The models come from the smoke variant of deeplabv3plus_mnv2_synthetic at a non-square 65x81
input (height and width swapped anywhere shows), seeded random weights and a 1x1 classifier
fitted to the synthetic scenes (so masks show shapes). Cases are computed with algorithms.py (NumPy) and the LiteRT
Python interpreter; cases of ../shared/reference/deeplabv3_257_mv_gpu.tflite are written only
when that folder is present. Format: README.md beside this file.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import sys

import numpy as np

import deeplab_tf  # noqa: F401  (Keras 2 before TensorFlow)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import algorithms  # noqa: E402

from deeplab_tf.artifacts.files import write_bytes_atomic  # noqa: E402
from deeplab_tf.artifacts.model_card import build_model_card, file_names, labels_text, write_model_card  # noqa: E402
from deeplab_tf.data.registry import get_dataset_info  # noqa: E402
from deeplab_tf.data.synthetic import generate  # noqa: E402
from deeplab_tf.export.inspect import run_tflite  # noqa: E402

CONTRACT = pathlib.Path(__file__).resolve().parent
SHARED = pathlib.Path(os.environ.get("DEEPLAB_SHARED", CONTRACT.parents[2] / "shared"))
FORMAT = "deeplab_tf.golden/1"
EXPERIMENT = "deeplabv3plus_mnv2_synthetic"
INPUT_SIZE = (65, 81)
SEED = 0
REFERENCE = "reference/deeplabv3_257_mv_gpu.tflite"
CAMVID_FRAME = "datasets/camvid/val/0016E5_07969.png"  # a real street scene for the reference model (car, road)
# stem -> (network, quantization, output); all take uint8 pixels. The mask model is a tiny
# two-convolution network through the same convert(): a third DeepLab would add 0.5 MB to the repo.
MODELS = {
    "smoke_float": ("deeplab", "none", "scores"),
    "smoke_int8": ("deeplab", "int8_ptq", "scores"),
    "tiny_int8_mask": ("tiny", "int8_ptq", "mask"),
}
IMAGENET = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}
MINUS_ONE_TO_ONE = {"mean": [127.5] * 3, "std": [127.5] * 3}


# --- images --------------------------------------------------------------------


def images() -> dict[str, np.ndarray]:
    """Two camera-like images, neither square nor model-sized: landscape RGBA (alpha varies and
    must be ignored) and portrait RGB, synthetic scenes so that the models see structure."""
    rgb = generate(11, 0, (97, 131))[0]
    alpha = (np.arange(131)[None, :] * 2 + np.arange(97)[:, None]) % 256
    return {
        "rgba": np.concatenate([rgb, alpha[..., None].astype(np.uint8)], axis=-1),
        "rgb": generate(11, 1, (120, 75))[0],
    }


def encode_png(array: np.ndarray) -> bytes:
    import cv2

    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError(f"could not encode a PNG of shape {array.shape}")
    return data.tobytes()


def decode_png(path: str | os.PathLike) -> np.ndarray:
    """uint8 [h, w] (gray) or [h, w, 3|4] (RGB, RGBA)."""
    import cv2

    array = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise FileNotFoundError(f"cannot read PNG {path}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return array


# --- models --------------------------------------------------------------------


def _fit_classifier(model, inputs: np.ndarray, masks: np.ndarray, ignore_label: int, gain: float = 8.0) -> None:
    """Fits the 1x1 classifier of the random network, by ridge regression of its frozen features
    onto the class-balanced one-hot labels of the synthetic scenes, then scales the logits by ``gain``: the
    untrained network then draws the scenes' shapes with decided pixels (a random head paints one
    class everywhere, or near-uniform scores that quantize to ties)."""
    import tf_keras as keras

    head = model.get_layer("logits_conv")
    features = keras.Model(model.input, head.input)(inputs).numpy().astype(np.float64)
    count, height, width, depth = features.shape
    rows = np.arange(height) * masks.shape[1] // height  # the labels on the head's grid
    cols = np.arange(width) * masks.shape[2] // width
    labels = masks[:, rows][:, :, cols].ravel()
    keep = labels != ignore_label
    design = np.concatenate([features.reshape(-1, depth)[keep], np.ones((keep.sum(), 1))], axis=1)
    labels = labels[keep]
    balance = (labels.size / np.maximum(np.bincount(labels, minlength=head.filters), 1))[labels][:, None]
    targets = np.eye(head.filters)[labels]  # each class weighted by 1 / its frequency: shapes are small
    gram = design.T @ (design * balance) + 1e-3 * np.eye(depth + 1)
    weights = np.linalg.solve(gram, design.T @ (targets * balance)) * gain
    head.set_weights([weights[:-1].reshape(1, 1, depth, -1).astype(np.float32), weights[-1].astype(np.float32)])


def _tiny_network(num_classes: int):
    """A 3x3 and a 1x1 convolution: per-pixel classes from local colour (README: the mask model)."""
    import tf_keras as keras

    inputs = keras.Input(shape=(*INPUT_SIZE, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="tiny_conv")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(num_classes, 1, name="logits_conv")(x), name="tiny")


def export_models(out: pathlib.Path) -> None:
    """Writes the MODELS .tflite files, their labels and cards into ``out``."""
    import tf_keras as keras

    from deeplab_tf.configs import get_experiment
    from deeplab_tf.export.conversion import ConvertOptions, convert
    from deeplab_tf.models import build_deeplab, get_backbone_spec

    config = get_experiment(EXPERIMENT, smoke=True)
    model_config = dataclasses.replace(config.model, input_size=INPUT_SIZE)
    dataset = get_dataset_info(config.data.dataset)
    preprocessing = get_backbone_spec(model_config.backbone.name).preprocessing
    scenes = [generate(SEED + 3, i, INPUT_SIZE) for i in range(16)]
    calibration = np.stack([image for image, _ in scenes[:8]])
    masks = np.stack([mask for _, mask in scenes])
    pixels = np.stack([image for image, _ in scenes]).astype(np.float32)
    normalized = (pixels - np.float32(preprocessing.mean)) / np.float32(preprocessing.std)
    networks = {}
    builders = {"deeplab": lambda: build_deeplab(model_config), "tiny": lambda: _tiny_network(dataset.num_classes)}
    for name, build in builders.items():
        keras.utils.set_random_seed(SEED)
        networks[name] = build()
        _fit_classifier(networks[name], normalized, masks, dataset.ignore_label)
    for stem, (network, quantization, output) in MODELS.items():
        model = networks[network]
        options = ConvertOptions(
            quantization=quantization,
            input_dtype="uint8",
            output=output,
            preprocessing=preprocessing,
            calibration=(lambda: calibration) if quantization == "int8_ptq" else None,
        )
        tflite_bytes = convert(model, options)
        card = build_model_card(
            tflite_bytes,
            stem=stem,
            name=stem,
            version="1",
            experiment=f"{EXPERIMENT}:smoke",
            description=f"golden-vector model, random features (seed {SEED}) + fitted classifier, {INPUT_SIZE[0]}x{INPUT_SIZE[1]}: "
            + (f"{config.description} (smoke)" if network == "deeplab" else "two convolutions")
            + f", {quantization}, {output}",
            class_names=dataset.class_names,
            colormap=dataset.colormap,
            ignore_label=dataset.ignore_label,
            quantization=quantization,
            mean=preprocessing.mean,
            std=preprocessing.std,
        )
        _write_export(out, stem, tflite_bytes, card, dataset.class_names)
    keras.backend.clear_session()


def _write_export(out: pathlib.Path, stem: str, tflite_bytes: bytes | None, card: dict, class_names) -> None:
    names = file_names(stem)
    if tflite_bytes is not None:
        write_bytes_atomic(out / names["model"], tflite_bytes)
    write_bytes_atomic(out / names["labels"], labels_text(class_names).encode())
    write_model_card(out / names["card"], card)


def write_reference_card(out: pathlib.Path, shared: pathlib.Path) -> None:
    """The card of the official DeepLab v3 demo model (PASCAL VOC, [-1, 1] float input), beside the
    project's cards; the .tflite itself stays in ../shared."""
    pascal = get_dataset_info("pascal_voc")
    tflite_bytes = (shared / REFERENCE).read_bytes()
    stem = pathlib.Path(REFERENCE).stem
    card = build_model_card(
        tflite_bytes,
        stem=stem,
        name=stem,
        version="1",
        experiment="reference",
        description="DeepLab v3 MobileNetV2 257x257, PASCAL VOC, as shipped by the official TFLite demo apps",
        class_names=pascal.class_names,
        colormap=pascal.colormap,
        ignore_label=pascal.ignore_label,
        quantization="none",
        mean=MINUS_ONE_TO_ONE["mean"],
        std=MINUS_ONE_TO_ONE["std"],
        weights={"source": pathlib.Path(REFERENCE).name, "sha256": hashlib.sha256(tflite_bytes).hexdigest(),
                 "license": "Apache-2.0"},  # fmt: skip
    )
    _write_export(out, stem, None, card, pascal.class_names)


def write_bad_models(out: pathlib.Path) -> None:
    """Tiny models outside the contract (README "Bad models"): two outputs, a 5-D output, int16 output."""
    import tensorflow as tf

    spec = tf.TensorSpec([1, 8, 8, 3], tf.float32, name="image")

    @tf.function(input_signature=[spec])
    def two_outputs(image):
        return {"scores": tf.nn.softmax(image), "mask": tf.argmax(image, axis=-1, output_type=tf.int32)}

    @tf.function(input_signature=[spec])
    def five_d(image):
        return {"scores": tf.reshape(tf.nn.softmax(image), [1, 8, 8, 3, 1])}

    @tf.function(input_signature=[spec])
    def int16_output(image):
        return {"scores": tf.cast(image * 100.0, tf.int16)}

    for function in (two_outputs, five_d, int16_output):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
        write_bytes_atomic(out / f"{function.__name__}.tflite", converter.convert())


# --- cases ---------------------------------------------------------------------


def _tensor_facts(array: np.ndarray, detail: dict | None) -> dict:
    quantization = None
    if detail is not None and detail["scale"] != 0:
        quantization = {"scale": float(detail["scale"]), "zero_point": int(detail["zero_point"])}
    return {"shape": list(array.shape), "dtype": array.dtype.name, "quantization": quantization}


def _model_details(tflite_bytes: bytes) -> tuple[dict, dict]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    (source,), (result,) = interpreter.get_input_details(), interpreter.get_output_details()
    as_dict = lambda d: {"scale": d["quantization"][0], "zero_point": d["quantization"][1]}  # noqa: E731
    return as_dict(source), as_dict(result)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    image: str  # key of images(), or a path in the shared folder
    resize: str
    opacity: int
    card: str  # relative to the contract folder
    model: dict | None = None  # {"root": "contract"|"shared", "path"}
    card_json: dict | None = None  # preprocessing-only cases: the card (input part) written into the case folder
    keep_input: bool = True
    keep_output: bool = True


def cases() -> list[Case]:
    def project(stem, image, resize, opacity, keep_output=True):
        kind = stem.split("_", 1)[1].replace("_", "")
        model = {"root": "contract", "path": f"models/{stem}.tflite"}
        return Case(f"{kind}_{image}_{resize}", image, resize, opacity, f"models/{stem}.json", model,
                    keep_output=keep_output)  # fmt: skip

    def reference(image, resize, opacity):
        # Its float input [1, 257, 257, 3] is 793 kB and its scores 5.5 MB: kept out of the repo (the
        # preprocessing-only float case checks the normalization, the masks check the rest).
        card = f"models/{pathlib.Path(REFERENCE).stem}.json"
        model = {"root": "shared", "path": REFERENCE}
        name = "camvid" if image == CAMVID_FRAME else image
        return Case(f"reference_{name}_{resize}", image, resize, opacity, card, model, None, False, False)

    def preprocessing_only(name, image, resize, dtype, normalization, quantization):
        card = {"input": {"height": INPUT_SIZE[0], "width": INPUT_SIZE[1], "channels": 3, "color": "RGB",
                          "dtype": dtype, "layout": "NHWC", "normalization": normalization,
                          "quantization": quantization, "resize": "stretch"}}  # fmt: skip
        return Case(name, image, resize, 0, f"cases/{name}/card.json", None, card)

    return [
        project("smoke_float", "rgba", "stretch", 128),
        project("smoke_float", "rgb", "letterbox", 96, keep_output=False),  # 126 kB each
        project("smoke_int8", "rgba", "letterbox", 160),
        project("smoke_int8", "rgb", "stretch", 255),
        project("tiny_int8_mask", "rgba", "stretch", 128),
        project("tiny_int8_mask", "rgb", "letterbox", 0),
        reference("rgba", "stretch", 128),
        reference("rgb", "letterbox", 200),
        reference(CAMVID_FRAME, "stretch", 128),
        reference(CAMVID_FRAME, "letterbox", 128),
        preprocessing_only("pre_float_rgb_letterbox", "rgb", "letterbox", "float32", IMAGENET, None),
        preprocessing_only("pre_int8_rgba_stretch", "rgba", "stretch", "int8", MINUS_ONE_TO_ONE,
                           {"scale": 0.0078125, "zero_point": -1}),
    ]  # fmt: skip


def _write(out: pathlib.Path, relative: str, data: bytes) -> str:
    write_bytes_atomic(out / relative, data)
    return relative


def write_case(case: Case, out: pathlib.Path, shared: pathlib.Path, image: dict) -> str | None:
    """Writes ``out/cases/<name>/`` (``image``: {"root", "file"}); returns the name, or None when
    the case's model or image is absent (the reference without ../shared)."""
    folder = f"cases/{case.name}"
    roots = {"contract": out, "shared": shared}
    tflite_bytes = None
    if case.model is not None:
        model_path = roots[case.model["root"]] / case.model["path"]
        if not model_path.is_file() or not (roots[image["root"]] / image["file"]).is_file():
            return None
        tflite_bytes = model_path.read_bytes()
    (out / folder).mkdir(parents=True, exist_ok=True)
    if case.card_json is not None:
        _write(out, case.card, (json.dumps(case.card_json, indent=2) + "\n").encode())
    card = json.loads((out / case.card).read_text())
    pixels = decode_png(roots[image["root"]] / image["file"])
    source = card["input"]
    resized, box = algorithms.resize_pixels(pixels, (source["height"], source["width"]), case.resize)
    tensor = algorithms.to_input_tensor(resized, source)
    description = {
        "format": FORMAT,
        "name": case.name,
        "model": case.model,
        "card": case.card,
        "image": {**image, "height": pixels.shape[0], "width": pixels.shape[1], "channels": pixels.shape[2]},
        "preprocess": {"resize": case.resize, "pad": 0, "content": box.to_dict()},
        # A tensor too large to commit (the reference's 793 kB float input) is given by its SHA-256.
        "input": {"file": _write(out, f"{folder}/input.bin", tensor.tobytes()) if case.keep_input else None,
                  **({} if case.keep_input else {"sha256": hashlib.sha256(tensor.tobytes()).hexdigest()}),
                  **_tensor_facts(tensor, source["quantization"])},
        "output": None, "mask_model": None, "mask_image": None, "overlay": None, "classes_present": None,
    }  # fmt: skip
    if tflite_bytes is not None:
        input_detail, output_detail = _model_details(tflite_bytes)
        description["input"].update(_tensor_facts(tensor, input_detail))
        output = run_tflite(tflite_bytes, tensor)
        kind = card["output"]["kind"]
        mask = algorithms.output_to_mask(output, kind, len(card["classes"]))
        mask_image = algorithms.mask_to_image(mask, box, tensor.shape[1:3], pixels.shape[:2])
        colors = np.asarray([entry["color"] for entry in card["classes"]])
        shown = algorithms.overlay(pixels, mask_image, colors, case.opacity)
        # a photo's overlay PNG is ~0.5 MB: only for the contract's own (synthetic) images
        overlay = None
        if image["root"] == "contract":
            overlay = {"file": _write(out, f"{folder}/overlay.png", encode_png(shown)), "opacity": case.opacity}
        description.update(
            output={"file": _write(out, f"{folder}/output.bin", output.tobytes()) if case.keep_output else None,
                    "kind": kind, **_tensor_facts(output, output_detail)},
            mask_model={"file": _write(out, f"{folder}/mask_model.png", encode_png(mask)),
                        "height": mask.shape[0], "width": mask.shape[1]},
            mask_image={"file": _write(out, f"{folder}/mask_image.png", encode_png(mask_image)),
                        "height": mask_image.shape[0], "width": mask_image.shape[1]},
            overlay=overlay,
            classes_present=algorithms.classes_present(mask_image),
        )  # fmt: skip
    _write(out, f"{folder}/case.json", (json.dumps(description, indent=2) + "\n").encode())
    return case.name


def write_cases(out: pathlib.Path, shared: pathlib.Path) -> list[str]:
    """Writes the images, every case whose model is present and the index golden.json;
    returns the names of the cases written."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, pixels in images().items():
        paths[key] = {
            "root": "contract",
            "file": _write(out, f"images/{key}_{pixels.shape[0]}x{pixels.shape[1]}.png", encode_png(pixels)),
        }
    image = lambda case: paths.get(case.image, {"root": "shared", "file": case.image})  # noqa: E731
    written = [name for case in cases() if (name := write_case(case, out, shared, image(case)))]
    index = {"format": FORMAT, "cases": [case.name for case in cases()]}
    _write(out, "golden.json", (json.dumps(index, indent=2) + "\n").encode())
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=CONTRACT, help="the contract folder to write")
    parser.add_argument("--shared", type=pathlib.Path, default=SHARED, help="the shared folder (reference model)")
    parser.add_argument("--skip_models", action="store_true", help="reuse the models in --out/models")
    args = parser.parse_args(argv)
    models = args.out / "models"
    models.mkdir(parents=True, exist_ok=True)
    if not args.skip_models:
        export_models(models)
        (args.out / "bad").mkdir(exist_ok=True)
        write_bad_models(args.out / "bad")
    if (args.shared / REFERENCE).is_file():
        write_reference_card(models, args.shared)
    written = write_cases(args.out, args.shared)
    print(f"wrote {len(written)} cases into {args.out}: {', '.join(written)}")


if __name__ == "__main__":
    main()
