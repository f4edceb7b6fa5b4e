"""The trained model both apps carry by default (scripts/reference_257.sh --apps): the same files in
both, a valid card naming where its weights come from, small enough to ship, and a model that
segments a real street scene as the original demo model does."""

import hashlib
import json
import pathlib
import sys

import numpy as np
import pytest

from deeplab_tf.export.inspect import run_tflite
from deeplab_tf.artifacts.model_card import read_model_card, validate_model_card

MOBILE = pathlib.Path(__file__).resolve().parents[2] / "mobile"
FOLDERS = [MOBILE / "android" / "app" / "src" / "main" / "assets", MOBILE / "ios" / "DeepLabSegment" / "Models"]
MAX_BYTES = 1_000_000
# Measured on the first 10 CamVid val frames, stretched to 257x257 as the apps feed them, through the
# contract's algorithms: the shipped int8 mask file (argmax at half size) gives the reference .tflite's
# class on 99.49% to 99.97% of the pixels.
AGREEMENT = 0.98

sys.path.insert(0, str(MOBILE / "contract"))
import algorithms  # noqa: E402


def _cards(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.glob("*.json"))


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.name != ".gitkeep"}


def test_both_apps_carry_the_same_trained_model():
    android, ios = (_digests(folder) for folder in FOLDERS)
    assert android == ios
    assert len(_cards(FOLDERS[0])) >= 1, "no default model in the apps: run scripts/reference_257.sh --apps"


@pytest.mark.parametrize("card_path", _cards(FOLDERS[0]), ids=lambda p: p.stem)
def test_the_shipped_card_describes_a_small_int8_mask_model_of_released_weights(card_path):
    card = read_model_card(card_path)
    model = (card_path.parent / card["model_file"]).read_bytes()
    validate_model_card(card, model)
    assert len(model) <= MAX_BYTES and card["size_bytes"] == len(model)
    assert card["output"]["kind"] == "mask" and card["quantization"] in ("int8_qat", "int8_ptq")
    assert card["weights"]["source"] == "deeplabv3_257_mv_gpu.tflite" and card["weights"]["license"] == "Apache-2.0"
    labels = (card_path.parent / card["labels_file"]).read_text().splitlines()
    assert labels == [entry["name"] for entry in card["classes"]] and "person" in labels and "car" in labels


@pytest.mark.parametrize("card_path", _cards(FOLDERS[0]), ids=lambda p: p.stem)
def test_the_shipped_model_segments_real_street_frames_as_the_original(card_path, shared_dir):
    import cv2

    card = json.loads(card_path.read_text())
    model = (card_path.parent / card["model_file"]).read_bytes()
    reference = (shared_dir / "reference" / "deeplabv3_257_mv_gpu.tflite").read_bytes()
    reference_card = json.loads((MOBILE / "contract" / "models" / "deeplabv3_257_mv_gpu.json").read_text())
    frames = sorted((shared_dir / "datasets" / "camvid" / "val").glob("*.png"))[:10]
    found = set()
    for frame in frames:
        pixels = cv2.cvtColor(cv2.imread(str(frame)), cv2.COLOR_BGR2RGB)
        masks = []
        for data, contract in ((model, card), (reference, reference_card)):
            source = contract["input"]
            resized, _ = algorithms.resize_pixels(pixels, (source["height"], source["width"]), "stretch")
            output = run_tflite(data, algorithms.to_input_tensor(resized, source))
            masks.append(algorithms.output_to_mask(output, contract["output"]["kind"], len(contract["classes"])))
        assert (masks[0] == masks[1]).mean() >= AGREEMENT, frame.name
        found |= {card["classes"][i]["name"] for i in np.unique(masks[0])}
    assert "car" in found  # CamVid's val sequence drives past parked cars
