import re

import pytest

from deeplab_tf.data import synthetic
from deeplab_tf.data.registry import (
    CITYSCAPES_LABEL_ID_TO_TRAIN_ID,
    DatasetInfo,
    bit_palette,
    get_dataset_info,
    list_datasets,
    load_label_map,
)


def test_list_datasets():
    assert list_datasets() == ["ade20k", "camvid", "cityscapes", "pascal_voc", "synthetic"]


@pytest.mark.parametrize(
    "name, num_classes, ignore, first, last",
    [
        ("pascal_voc", 21, 255, "background", "tvmonitor"),
        ("cityscapes", 19, 255, "road", "bicycle"),
        ("ade20k", 150, 255, "wall", "flag"),
        ("camvid", 11, 11, "Sky", "Bicyclist"),
        ("synthetic", 6, 255, "background", "cross"),
    ],
)
def test_builtin_datasets(name, num_classes, ignore, first, last):
    info = get_dataset_info(name)
    assert info.name == name and info.num_classes == num_classes and info.ignore_label == ignore
    assert info.class_names[0] == first and info.class_names[-1] == last
    assert len(info.colormap) == num_classes
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in info.colormap)
    assert len(set(info.colormap)) == num_classes, "colours must tell classes apart"
    d = info.to_dict()
    assert d["num_classes"] == num_classes and d["class_names"][0] == first and d["ignore_label"] == ignore
    lines = info.labels_text().splitlines()
    assert lines == list(info.class_names) and info.labels_text().endswith("\n")


def test_known_class_names_and_colours():
    voc = get_dataset_info("pascal_voc")
    assert voc.class_names[15] == "person" and voc.colormap[15] == (192, 128, 128)
    assert voc.colormap[:4] == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))
    assert voc.colormap[20] == (0, 64, 128)
    ade = get_dataset_info("ade20k")
    assert ade.class_names[:5] == ("wall", "building", "sky", "floor", "tree")
    assert ade.class_names[12] == "person" and ade.class_names[44] == "chest of drawers"
    assert ade.class_names[136] == "traffic light"
    city = get_dataset_info("cityscapes")
    assert city.class_names[13] == "car" and city.colormap[13] == (0, 0, 142)
    assert city.colormap[0] == (128, 64, 128)
    camvid = get_dataset_info("camvid")
    assert camvid.colormap[3] == (128, 64, 128) and camvid.colormap[4] == (60, 40, 222)
    syn = get_dataset_info("synthetic")
    assert syn.class_names == tuple(synthetic.CLASS_NAMES)
    assert syn.ignore_label == synthetic.IGNORE_LABEL


def test_cityscapes_label_id_table():
    table = CITYSCAPES_LABEL_ID_TO_TRAIN_ID
    assert sorted(table.values()) == list(range(19))
    assert table[7] == 0 and table[26] == 13 and table[33] == 18
    assert 0 not in table and 6 not in table and 9 not in table  # unlabeled, ground, parking


def test_unknown_dataset_lists_known():
    with pytest.raises(ValueError, match="unknown dataset 'nope'; known datasets: ade20k, camvid"):
        get_dataset_info("nope")
    with pytest.raises(ValueError, match="label-map"):
        get_dataset_info("folder")


def test_bit_palette_is_distinct():
    palette = bit_palette(256)
    assert len(set(palette)) == 256 and palette[0] == (0, 0, 0)


def test_dataset_info_validates():
    with pytest.raises(ValueError, match="ignore label"):
        DatasetInfo("x", ("a", "b"), ((0, 0, 0), (1, 1, 1)), 1, "")
    with pytest.raises(ValueError, match="colours"):
        DatasetInfo("x", ("a", "b"), ((0, 0, 0),), 255, "")
    with pytest.raises(ValueError, match="duplicate"):
        DatasetInfo("x", ("a", "a"), ((0, 0, 0), (1, 1, 1)), 255, "")


def test_load_label_map_formats(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text(
        "# my classes\n"
        "0 background [0,0,0]\n"
        "\n"
        "2 traffic sign 10 20 30\n"
        "1 road 128,64,128  # comment\n"
        "3 other\n"
    )
    info = load_label_map(str(path))
    assert info.name == "folder" and info.ignore_label == 255
    assert info.class_names == ("background", "road", "traffic sign", "other")
    assert info.colormap[:3] == ((0, 0, 0), (128, 64, 128), (10, 20, 30))
    assert info.colormap[3] == bit_palette(4)[3]
    assert load_label_map(str(path), ignore_label=4).ignore_label == 4


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("0 a\nx b\n", 2, "expected 'index name"),
        ("0 a\n1\n", 2, "expected 'index name"),
        ("0 a [1,2\n", 1, "malformed colour"),
        ("0 a 1 2 300\n", 1, "0..255"),
        ("0 a\n0 b\n", 2, "appears twice"),
        ("0 a\n1 a\n", 2, "appears twice"),
    ],
)
def test_load_label_map_bad_lines_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "labels.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{path}:{line}:") + ".*" + re.escape(message)):
        load_label_map(str(path))


def test_load_label_map_needs_contiguous_indices(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("0 a\n2 b\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: class indices must be 0..1") + ".*missing \\[1\\]"):
        load_label_map(str(path))
    path.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no classes"):
        load_label_map(str(path))
    path.write_text("0 a\n1 b\n")
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*ignore label"):
        load_label_map(str(path), ignore_label=1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_label_map(str(tmp_path / "missing.txt"))


def test_recorded_dataset_names_the_classes_of_a_folder_dataset(tmp_path):
    import json

    from deeplab_tf.configs import get_experiment, override
    from deeplab_tf.data.registry import recorded_dataset
    from deeplab_tf.evaluation.report import class_names_and_colors
    from deeplab_tf.export.export import dataset_classes

    info = DatasetInfo("my_parts", ("bg", "bolt", "nut"), ((0, 0, 0), (255, 0, 0), (0, 255, 0)), 255, "parts")
    assert recorded_dataset(str(tmp_path)) is None
    (tmp_path / "dataset.json").write_text(json.dumps({"dataset": info.to_dict(), "summary": {}}))  # as convert writes it
    assert recorded_dataset(str(tmp_path)) == info
    names, colors = class_names_and_colors("folder", 3, str(tmp_path))
    assert names == ["bg", "bolt", "nut"] and colors == [(0, 0, 0), (255, 0, 0), (0, 255, 0)]
    assert class_names_and_colors("folder", 4, str(tmp_path))[0] == ["class_0", "class_1", "class_2", "class_3"]
    config = override(get_experiment("deeplabv3plus_mnv2_synthetic"), {"data.dataset": "folder", "model.num_classes": 3})
    assert dataset_classes(config, str(tmp_path)) == (names, colors, 255)  # the export reads them the same way
    assert class_names_and_colors("synthetic", 6, str(tmp_path))[0][:2] == ["background", "disc"]  # the registry's
    (tmp_path / "dataset.json").write_text(json.dumps({"summary": {}}))
    with pytest.raises(ValueError, match="dataset.json does not describe the dataset"):
        recorded_dataset(str(tmp_path))
