import glob
import json
import os
import re
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.data import schema, synthetic
from deeplab_tf.data.convert import Sample, convert_dataset
from deeplab_tf.data.converters import CONVERTERS, collect_samples, dataset_info, get_converter
from deeplab_tf.data.image_files import BadFileError, read_label_png
from deeplab_tf.data.registry import get_dataset_info
from deeplab_tf.export.compare import bytes_difference

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H, W = 20, 30


# ---- helpers: tiny files in the real layouts ----


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def write_palette_png(path, indices, palette, depth=8, extra_chunks=()):
    """A palette PNG (colour type 3) written byte by byte: PLTE, optional tRNS etc., filter 0 rows."""
    height, width = indices.shape
    if depth == 8:
        rows = [indices[r].astype(np.uint8).tobytes() for r in range(height)]
    else:
        per_byte = 8 // depth
        padded = np.zeros((height, -(-width // per_byte) * per_byte), np.uint8)
        padded[:, :width] = indices
        groups = padded.reshape(height, -1, per_byte)
        packed = sum(groups[..., i].astype(np.uint16) << (8 - depth * (i + 1)) for i in range(per_byte))
        rows = [packed[r].astype(np.uint8).tobytes() for r in range(height)]
    raw = b"".join(b"\x00" + row for row in rows)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 3, 0, 0, 0))
        + _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).ravel()))
        + b"".join(_chunk(kind, payload) for kind, payload in extra_chunks)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def rgb(seed, height=H, width=W):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def ids(seed, values, height=H, width=W):
    return np.random.default_rng(seed + 1000).choice(np.asarray(values, np.uint8), (height, width))


def write_image(path, image_rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), image_rgb[..., ::-1])


def write_gray(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), array)


def read_records(output_dir, split):
    """[(raw image bytes, image RGB, label [H, W], filename, format)] of the split's shards, in order."""
    files = sorted(glob.glob(os.path.join(output_dir, f"{split}-*-of-*.tfrecord")))
    records = []
    for serialized in tf.data.TFRecordDataset(files):
        raw = tf.io.parse_single_example(serialized, schema.FEATURES)
        parsed = schema.parse_example(serialized)
        assert int(raw[schema.HEIGHT]) == parsed["image"].shape[0]
        assert int(raw[schema.WIDTH]) == parsed["image"].shape[1]
        records.append(
            (
                raw[schema.IMAGE].numpy(),
                parsed["image"].numpy(),
                parsed["label"].numpy()[..., 0],
                parsed["filename"].numpy().decode(),
                raw[schema.IMAGE_FORMAT].numpy().decode(),
            )
        )
    return records


def convert(name, data_dir, output_dir, splits=("train",), label_map=None, workers=1, **kwargs):
    module = get_converter(name)
    samples = collect_samples(name, str(data_dir) if data_dir else None, list(splits), kwargs.pop("num_images", None))
    extra = {"load_image": module.load_image} if hasattr(module, "load_image") else {}
    return convert_dataset(
        samples, dataset_info(name, label_map), module.load_mask, str(output_dir),
        progress=False, workers=workers, **extra, **kwargs,
    )  # fmt: skip


def leftovers(output_dir):
    return sorted(n for n in os.listdir(output_dir) if n.endswith(".tfrecord") or ".tmp-" in n)


def shard_bytes(output_dir):
    names = sorted(n for n in os.listdir(output_dir) if n.endswith(".tfrecord"))
    return {n: open(os.path.join(output_dir, n), "rb").read() for n in names}


# ---- the label PNG reader ----


@pytest.mark.parametrize("depth", [8, 4, 2, 1])
def test_palette_png_gives_indices_not_colours(tmp_path, depth):
    values = list(range(min(2**depth, 21)))
    indices = ids(0, values, 7, 11)  # odd width: packed rows end mid-byte
    palette = [(0, 0, 0)] * 2**depth  # all the same colour: only the index tells classes apart
    trns = (b"tRNS", bytes([0] + [255] * (2**depth - 1)))
    write_palette_png(str(tmp_path / "m.png"), indices, palette, depth, extra_chunks=[trns])
    np.testing.assert_array_equal(read_label_png(str(tmp_path / "m.png")), indices)


def test_gray_png_and_bad_label_pngs(tmp_path):
    mask = ids(1, [0, 3, 255])
    write_gray(tmp_path / "g.png", mask)
    np.testing.assert_array_equal(read_label_png(str(tmp_path / "g.png")), mask)
    write_image(tmp_path / "rgb.png", rgb(1))
    with pytest.raises(BadFileError, match=re.escape(str(tmp_path / "rgb.png")) + ".*one class id per pixel"):
        read_label_png(str(tmp_path / "rgb.png"))
    with pytest.raises(BadFileError, match="mask does not exist"):
        read_label_png(str(tmp_path / "none.png"))


# ---- each converter on a tiny replica of its layout ----


def test_pascal_voc(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2012"
    names = ["2007_000032", "2007_000039", "2008_000123"]
    masks = {}
    for i, name in enumerate(names):
        write_image(root / "JPEGImages" / f"{name}.jpg", rgb(i))
        masks[name] = ids(i, [0, 1, 15, 20, 255])
        write_palette_png(str(root / "SegmentationClass" / f"{name}.png"), masks[name], [(0, 0, 0)] * 256)
        write_gray(root / "SegmentationClassAug" / f"{name}.png", masks[name][::-1].copy())
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("2007_000032\n2008_000123\n")
    (lists / "val.txt").write_text("2007_000039\n")
    (lists / "train_aug.txt").write_text("".join(f"/JPEGImages/{n}.jpg /SegmentationClassAug/{n}.png\n" for n in names))

    out = tmp_path / "out"
    summary = convert("pascal_voc", tmp_path, out, splits=("train", "val", "train_aug"))
    assert {s: r["images"] for s, r in summary["splits"].items()} == {"train": 2, "val": 1, "train_aug": 3}
    expectations = [("train", [names[0], names[2]], False), ("val", [names[1]], False), ("train_aug", names, True)]
    for split, expected, flip in expectations:
        records = read_records(out, split)
        assert [r[3] for r in records] == expected
        for raw, _, label, name, fmt in records:
            assert bytes_difference(raw, (root / "JPEGImages" / f"{name}.jpg").read_bytes()) is None and fmt == "jpeg"
            np.testing.assert_array_equal(label, masks[name][::-1] if flip else masks[name])
    # data_dir may also be VOCdevkit or VOC2012 itself.
    assert len(collect_samples("pascal_voc", str(root), ["val"])["val"]) == 1
    with pytest.raises(FileNotFoundError, match="splits there: train, train_aug, val"):
        collect_samples("pascal_voc", str(root), ["test"])


def test_cityscapes(tmp_path):
    label_ids = np.array([[7, 8, 26, 33, 0, 4, 9, 24]], np.uint8).repeat(H, 0)[:, :8]
    expected = np.array([[0, 1, 13, 18, 255, 255, 255, 11]], np.uint8).repeat(H, 0)
    images = {}
    for i, (city, stem) in enumerate([("aachen", "aachen_000000_000019"), ("bremen", "bremen_000001_000019")]):
        images[stem] = rgb(i, H, 8)
        write_image(tmp_path / "leftImg8bit" / "train" / city / f"{stem}_leftImg8bit.png", images[stem])
        write_gray(tmp_path / "gtFine" / "train" / city / f"{stem}_gtFine_labelIds.png", label_ids)
    out = tmp_path / "out"
    convert("cityscapes", tmp_path, out)
    records = read_records(out, "train")
    assert [r[3] for r in records] == list(images)
    for _, image, label, name, fmt in records:
        assert fmt == "png"
        np.testing.assert_array_equal(image, images[name])
        np.testing.assert_array_equal(label, expected)


def test_ade20k(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    annotation = np.array([[0, 1, 2, 150]], np.uint8).repeat(H, 0)
    for folder, stem in [("training", "ADE_train_00000001"), ("validation", "ADE_val_00000001")]:
        write_image(root / "images" / folder / f"{stem}.jpg", rgb(3, H, 4))
        write_gray(root / "annotations" / folder / f"{stem}.png", annotation)
    out = tmp_path / "out"
    convert("ade20k", tmp_path, out, splits=("train", "val"))
    for split, stem, folder in [("train", "ADE_train_00000001", "training"), ("val", "ADE_val_00000001", "validation")]:
        ((raw, _, label, name, _),) = read_records(out, split)
        assert name == stem and bytes_difference(raw, (root / "images" / folder / f"{stem}.jpg").read_bytes()) is None
        np.testing.assert_array_equal(label, np.array([[255, 0, 1, 149]], np.uint8).repeat(H, 0))
    with pytest.raises(ValueError, match="unknown ADE20K split 'test'"):
        collect_samples("ade20k", str(root), ["test"])


def test_camvid_segnet_layout(tmp_path):
    names = ["0001TP_006690", "Seq05VD_f00000"]
    for split in ("train", "val"):
        lines = []
        for i, name in enumerate(names):
            write_image(tmp_path / split / f"{name}.png", rgb(i))
            write_gray(tmp_path / f"{split}annot" / f"{name}.png", ids(i, range(12)))
            lines.append(f"/SegNet/CamVid/{split}/{name}.png /SegNet/CamVid/{split}annot/{name}.png\n")
        (tmp_path / f"{split}.txt").write_text("".join(lines))
    out = tmp_path / "out"
    summary = convert("camvid", tmp_path, out, splits=("train", "val"))
    for split in ("train", "val"):
        records = read_records(out, split)
        assert [r[3] for r in records] == names
        for i, (raw, image, label, _, _) in enumerate(records):
            assert bytes_difference(raw, (tmp_path / split / f"{names[i]}.png").read_bytes()) is None
            np.testing.assert_array_equal(image, rgb(i))
            np.testing.assert_array_equal(label, ids(i, range(12)))
    ignored = sum(int((ids(i, range(12)) == 11).sum()) for i in range(2))
    assert summary["splits"]["val"]["ignore_pixels"] == ignored
    assert summary["splits"]["val"]["class_pixels"]["Sky"] == sum(int((ids(i, range(12)) == 0).sum()) for i in range(2))


def make_folder(root, layout="lists", names=("a", "b", "c"), classes=3):
    """images/ + masks/ (+ splits/train.txt) with a label map; 'b' is a BMP, 'c' has a palette mask."""
    (root).mkdir(parents=True, exist_ok=True)
    (root / "labels.txt").write_text("".join(f"{i} class{i}\n" for i in range(classes)))
    sub = "" if layout == "lists" else "train"
    for i, name in enumerate(names):
        ext = ".bmp" if name == "b" else ".jpg" if name == "a" else ".png"
        write_image(root / "images" / sub / f"{name}{ext}", rgb(i))
        mask = ids(i, [*range(classes), 255])
        if name == "c":
            write_palette_png(str(root / "masks" / sub / f"{name}.png"), mask, [(9, 9, 9)] * 256)
        else:
            write_gray(root / "masks" / sub / f"{name}.png", mask)
    if layout == "lists":
        (root / "splits").mkdir()
        (root / "splits" / "train.txt").write_text("".join(f"{n}\n" for n in names))
    return root


@pytest.mark.parametrize("layout", ["lists", "subfolders"])
def test_folder(tmp_path, layout):
    root = make_folder(tmp_path / "data", layout)
    out = tmp_path / "out"
    convert("folder", root, out, label_map=str(root / "labels.txt"))
    records = read_records(out, "train")
    assert [r[3] for r in records] == ["a", "b", "c"]
    sub = "" if layout == "lists" else "train"
    for i, (raw, image, label, name, fmt) in enumerate(records):
        np.testing.assert_array_equal(label, ids(i, [0, 1, 2, 255]))
        if name == "a":
            assert bytes_difference(raw, (root / "images" / sub / "a.jpg").read_bytes()) is None and fmt == "jpeg"
        else:  # the BMP is re-encoded as PNG, the PNG kept: both exact
            np.testing.assert_array_equal(image, rgb(i))
            assert fmt == "png"
    info = json.loads((out / "dataset.json").read_text())
    assert info["dataset"]["class_names"] == ["class0", "class1", "class2"]
    assert info["summary"]["splits"]["train"]["images"] == 3


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="splits/\\{split\\}.txt"):
        collect_samples("folder", str(tmp_path), ["train"])
    with pytest.raises(ValueError, match="needs label_map=FILE"):
        dataset_info("folder")
    with pytest.raises(ValueError, match="only for the folder dataset"):
        dataset_info("camvid", "labels.txt")
    with pytest.raises(ValueError, match="no converter for dataset 'nope'; converters: ade20k"):
        get_converter("nope")
    assert sorted(CONVERTERS) == ["ade20k", "camvid", "cityscapes", "folder", "pascal_voc", "synthetic"]


def test_synthetic(tmp_path):
    samples = collect_samples("synthetic", None, ["train", "val"], num_images=2, image_size=(32, 48))
    module = get_converter("synthetic")
    convert_dataset(samples, get_dataset_info("synthetic"), module.load_mask, str(tmp_path), num_shards=2,
                    load_image=module.load_image, workers=1, progress=False)  # fmt: skip
    for split, seed in [("train", 0), ("val", 1)]:
        records = read_records(tmp_path, split)
        assert [r[3] for r in records] == [f"{split}_00000", f"{split}_00001"]
        for index, (_, image, label, _, _) in enumerate(records):
            expected_image, expected_mask = synthetic.generate(seed, index, (32, 48))
            np.testing.assert_array_equal(image, expected_image)
            np.testing.assert_array_equal(label, expected_mask)
    assert len(collect_samples("synthetic", None, ["train"])["train"]) == 400


# ---- bad inputs ----


def _truncate(path, keep):
    data = open(path, "rb").read()
    open(path, "wb").write(data[: keep(len(data))])


BAD_CASES = {
    # case: (how to break sample "b" of a folder dataset, which file the error names, what it says)
    "size_mismatch": (lambda r: write_gray(r / "masks" / "b.png", np.zeros((H, W + 1), np.uint8)), "masks/b.png", "image"),
    "bad_mask_value": (lambda r: write_gray(r / "masks" / "b.png", np.full((H, W), 7, np.uint8)), "masks/b.png", "[7]"),
    "missing_mask": (lambda r: os.remove(r / "masks" / "b.png"), "masks/b.png", "does not exist"),
    "unreadable_image": (lambda r: (r / "images" / "b.bmp").write_bytes(b"not an image"), "images/b.bmp", "not a readable image"),
    "truncated_png": (lambda r: _truncate(r / "images" / "c.png", lambda n: n - 20), "images/c.png", "truncated PNG"),
    "truncated_jpeg": (lambda r: _truncate(r / "images" / "a.jpg", lambda n: n // 2), "images/a.jpg", "truncated JPEG"),
    "truncated_mask": (lambda r: _truncate(r / "masks" / "a.png", lambda n: n - 30), "masks/a.png", "truncated PNG"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_sample_is_a_clear_error_and_leaves_nothing(tmp_path, case):
    root = make_folder(tmp_path / "data")
    breaker, file, message = BAD_CASES[case]
    breaker(root)
    out = tmp_path / "out"
    labels = str(root / "labels.txt")
    with pytest.raises(BadFileError, match=re.escape(str(root / file)) + ".*" + re.escape(message)) as raised:
        convert("folder", root, out, label_map=labels)
    assert str(raised.value).endswith("; skip_bad skips and lists bad samples)")
    assert leftovers(out) == []
    assert not (out / "dataset.json").exists()

    summary = convert("folder", root, out, label_map=labels, skip_bad=True)
    (skipped,) = summary["splits"]["train"]["skipped"]
    assert skipped["name"] == os.path.basename(file)[0] and str(root / file) in skipped["error"]
    assert summary["splits"]["train"]["images"] == 2
    assert len(read_records(out, "train")) == 2
    assert not [n for n in os.listdir(out) if ".tmp-" in n]


def test_failure_in_a_later_split_keeps_the_earlier_run(tmp_path):
    root = make_folder(tmp_path / "data")
    (root / "splits" / "val.txt").write_text("a\n")
    labels = str(root / "labels.txt")
    out = tmp_path / "out"
    convert("folder", root, out, splits=("train", "val"), label_map=labels)
    before = shard_bytes(out)
    (root / "splits" / "train.txt").write_text("c\nb\n")  # a different train split converts...
    os.remove(root / "masks" / "a.png")  # ...then val fails: no train shard of this run may stay
    with pytest.raises(BadFileError, match="masks/a.png"):
        convert("folder", root, out, splits=("train", "val"), label_map=labels)
    assert shard_bytes(out) == before
    assert not [n for n in os.listdir(out) if ".tmp-" in n]


def test_rerun_is_byte_identical_parallel_or_not_and_removes_stale_shards(tmp_path):
    root = make_folder(tmp_path / "data")
    labels = str(root / "labels.txt")
    convert("folder", root, tmp_path / "one", label_map=labels, num_shards=2)
    first = shard_bytes(tmp_path / "one")
    assert list(first) == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    convert("folder", root, tmp_path / "one", label_map=labels, num_shards=2)
    assert shard_bytes(tmp_path / "one") == first
    convert("folder", root, tmp_path / "two", label_map=labels, num_shards=2, workers=2)
    assert shard_bytes(tmp_path / "two") == first
    convert("folder", root, tmp_path / "one", label_map=labels, num_shards=5)  # capped at 3 samples
    assert list(shard_bytes(tmp_path / "one")) == [f"train-0000{i}-of-00003.tfrecord" for i in range(3)]


def test_convert_dataset_arguments(tmp_path):
    info = get_dataset_info("synthetic")
    with pytest.raises(ValueError, match="split 'train' has no samples"):
        convert_dataset({"train": []}, info, get_converter("synthetic").load_mask, str(tmp_path))
    sample = Sample(str(tmp_path / "x.png"), str(tmp_path / "x_mask.png"), "x")
    with pytest.raises(ValueError, match="all 1 samples are bad"):
        convert_dataset({"train": [sample]}, info, get_converter("folder").load_mask, str(tmp_path),
                        skip_bad=True, workers=1, progress=False)  # fmt: skip
    assert leftovers(tmp_path) == []


# ---- the command line ----


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "deeplab_tf.cli.convert", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)  # fmt: skip


def test_cli_synthetic(tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        "--dataset=synthetic", f"--output_dir={out}", "--num_images=3", "--image_size=32,40", "--workers=2"
    )
    assert result.returncode == 0, result.stderr
    assert "pixels per class" in result.stdout and "disc" in result.stdout
    info = json.loads((out / "dataset.json").read_text())
    assert {s: r["images"] for s, r in info["summary"]["splits"].items()} == {"train": 3, "val": 3}
    shards = [f"{s}-0000{i}-of-00002.tfrecord" for s in ("train", "val") for i in (0, 1)]
    assert sorted(os.listdir(out)) == ["dataset.json", *shards]


def test_cli_bad_input_is_one_line(tmp_path):
    root = make_folder(tmp_path / "data")
    write_gray(root / "masks" / "b.png", np.full((H, W), 9, np.uint8))
    out = tmp_path / "out"
    labels = root / "labels.txt"
    result = run_cli(
        "--dataset=folder", f"--data_dir={root}", f"--label_map={labels}", f"--output_dir={out}", "--splits=train"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "masks/b.png" in line]
    assert "mask values [9] are neither class ids (0..2) nor the ignore label 255" in line
    assert leftovers(out) == []


# ---- the real CamVid ----


def test_real_camvid_first_val_samples(tmp_path, shared_dir):
    data_dir = shared_dir / "datasets" / "camvid"
    if not (data_dir / "val.txt").is_file():
        pytest.skip(f"{data_dir} has no CamVid")
    summary = convert("camvid", data_dir, tmp_path, splits=("val",), num_images=3)
    records = read_records(tmp_path, "val")
    assert len(records) == 3 and summary["splits"]["val"]["images"] == 3
    first = (data_dir / "val.txt").read_text().split()[0]
    raw, image, label, name, _ = records[0]
    assert name == os.path.splitext(os.path.basename(first))[0]
    assert bytes_difference(raw, (data_dir / "val" / os.path.basename(first)).read_bytes()) is None
    assert image.shape == (360, 480, 3) and label.shape == (360, 480) and label.max() <= 11
    val = summary["splits"]["val"]
    assert sum(val["class_pixels"].values()) + val["ignore_pixels"] == 3 * 360 * 480
