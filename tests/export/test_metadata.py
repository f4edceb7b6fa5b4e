"""TFLite metadata: written from the schema with flatbuffers, read back field by field;
the model with metadata runs exactly as before; bad input gets a clear error."""

import dataclasses
import io
import zipfile

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from test_tflite import V3PLUS, exported, images, normalize, preprocessing

from deeplab_tf.export.inspect import run_tflite, tensor_dtypes
from deeplab_tf.export.metadata import LABELS_FILE, ModelInfo, add_metadata, read_metadata

# The app default (int8, uint8 pixels in, uint8 scores out) and the float option.
EXPORTS = {"uint8": ("int8_ptq", "uint8", "scores"), "float32": ("none", "float32", "scores")}


def info_for(tflite_bytes, input_dtype, output="scores"):
    output_shape = next(t["shape"] for t in tensor_dtypes(tflite_bytes).values() if t["name"] == output)
    classes = output_shape[-1] if output == "scores" else 6
    prep = preprocessing(V3PLUS)
    return ModelInfo(
        name="deeplabv3plus_mnv2_smoke",
        version="0.1.0+test",
        description="DeepLab v3+ MobileNetV2, smoke size, random weights.",
        labels=tuple(f"class {i}" for i in range(classes)),
        input_dtype=input_dtype,
        mean=tuple(prep.mean),
        std=tuple(prep.std),
        output=output,
    )


def metadata_entries(tflite_bytes):
    """``{entry name: buffer bytes}`` of the model's metadata list."""
    model = schema.Model.GetRootAs(tflite_bytes, 0)
    entries = (model.Metadata(i) for i in range(model.MetadataLength()))
    return {e.Name().decode(): model.Buffers(e.Buffer()).DataAsNumpy().tobytes() for e in entries}


@pytest.mark.parametrize("input_dtype", EXPORTS)
def test_metadata_reads_back_field_by_field(input_dtype):
    plain = exported(V3PLUS, *EXPORTS[input_dtype])
    info = info_for(plain, input_dtype)
    meta = read_metadata(add_metadata(plain, info))

    assert {key: meta[key] for key in ("name", "version", "description", "author", "license")} == {
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "author": "deeplab_tf",
        "license": "Apache-2.0",
    }
    assert meta["min_parser_version"] == "1.0.0"
    assert meta["min_runtime_version"] == metadata_entries(plain)["min_runtime_version"].rstrip(b"\0").decode()
    (subgraph,) = meta["subgraph_metadata"]
    (image,), (output,) = subgraph["input_tensor_metadata"], subgraph["output_tensor_metadata"]

    assert image["name"] == "image" and "RGB" in image["description"]
    assert image["content"] == {
        "content_properties_type": "ImageProperties",
        "content_properties": {"color_space": "RGB", "default_size": {"width": 65, "height": 65}},
    }
    mean, std = np.array(info.mean), np.array(info.std)
    if input_dtype == "float32":
        (unit,) = image["process_units"]
        assert unit["options_type"] == "NormalizationOptions"
        np.testing.assert_allclose(unit["options"]["mean"], mean, rtol=1e-6)
        np.testing.assert_allclose(unit["options"]["std"], std, rtol=1e-6)
        np.testing.assert_allclose(image["stats"]["min"], -mean / std, rtol=1e-6)
        np.testing.assert_allclose(image["stats"]["max"], (255 - mean) / std, rtol=1e-6)
    else:  # the normalization is folded into the model: the app must not apply it again
        assert "process_units" not in image
        assert image["stats"] == {"min": [0.0], "max": [255.0]}

    assert output["name"] == "segmentation_masks"
    assert output["content"] == {
        "content_properties_type": "ImageProperties",
        "content_properties": {"color_space": "GRAYSCALE"},
        "range": {"min": 1, "max": 2},
    }
    (labels,) = output["associated_files"]
    assert labels["name"] == LABELS_FILE and labels["type"] == "TENSOR_AXIS_LABELS"
    assert meta["files"] == {LABELS_FILE: "".join(f"{label}\n" for label in info.labels).encode()}


def test_mask_output_labels_values():
    plain = exported(V3PLUS, "none", "uint8", "mask")
    meta = read_metadata(add_metadata(plain, info_for(plain, "uint8", "mask")))
    (output,) = meta["subgraph_metadata"][0]["output_tensor_metadata"]
    assert output["name"] == "category_mask"
    assert output["associated_files"][0]["type"] == "TENSOR_VALUE_LABELS"


@pytest.mark.parametrize("input_dtype", EXPORTS)
def test_model_with_metadata_runs_exactly_as_before(input_dtype):
    plain = exported(V3PLUS, *EXPORTS[input_dtype])
    with_metadata = add_metadata(plain, info_for(plain, input_dtype))
    pixels = images(2)
    inputs = pixels if input_dtype == "uint8" else normalize(pixels, V3PLUS)
    for image in inputs:
        np.testing.assert_array_equal(run_tflite(with_metadata, image), run_tflite(plain, image))
    # The label file is an uncompressed zip member after the flatbuffer: the file is also a zip.
    (member,) = zipfile.ZipFile(io.BytesIO(with_metadata)).infolist()
    assert member.compress_type == zipfile.ZIP_STORED and member.header_offset > len(plain)


def test_add_metadata_is_pure_and_replaces_existing_metadata():
    plain = exported(V3PLUS, *EXPORTS["uint8"])
    info = info_for(plain, "uint8")
    once = add_metadata(plain, info)
    assert add_metadata(plain, info) == once  # deterministic (fixed zip timestamps)
    renamed = add_metadata(once, dataclasses.replace(info, name="renamed", labels=info.labels[::-1]))
    meta = read_metadata(renamed)
    assert meta["name"] == "renamed" and meta["files"][LABELS_FILE].split(b"\n")[0] == info.labels[-1].encode()
    assert list(metadata_entries(renamed)) == list(metadata_entries(once))  # one TFLITE_METADATA entry
    assert schema.Model.GetRootAs(renamed, 0).BuffersLength() == schema.Model.GetRootAs(once, 0).BuffersLength()


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(input_dtype="float16"), "input_dtype must be one of"),
        (dict(output="logits"), "output must be one of"),
        (dict(labels=()), "at least one class"),
        (dict(labels=("sky", "")), "non-empty one-line strings"),
        (dict(labels=("sky\nroad",)), "non-empty one-line strings"),
        (dict(std=(1.0, 0.0, 1.0)), "std must be positive"),
        (dict(mean=(0.0, 0.0)), "needs 3 values"),
        (dict(name=" "), "name must not be empty"),
    ],
)
def test_bad_model_info(changes, message):
    info = info_for(exported(V3PLUS, *EXPORTS["uint8"]), "uint8")
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(info, **changes)


def test_info_that_does_not_fit_the_model():
    plain = exported(V3PLUS, *EXPORTS["uint8"])
    info = info_for(plain, "uint8")
    with pytest.raises(ValueError, match=f"{len(info.labels) + 1} labels for a model with {len(info.labels)} classes"):
        add_metadata(plain, dataclasses.replace(info, labels=(*info.labels, "extra")))
    with pytest.raises(ValueError, match="input_dtype is 'float32' but the model's input is uint8"):
        add_metadata(plain, dataclasses.replace(info, input_dtype="float32"))
    with pytest.raises(ValueError, match="output 'mask' must be uint8"):
        add_metadata(plain, dataclasses.replace(info, output="mask"))
    with pytest.raises(ValueError, match="not a TFLite model"):
        add_metadata(b"PK\3\4 not a model", info)


def test_read_metadata_of_a_model_without_it():
    with pytest.raises(ValueError, match="no TFLITE_METADATA entry"):
        read_metadata(exported(V3PLUS, *EXPORTS["uint8"]))
