"""TFLite metadata for a DeepLab export, written with plain ``flatbuffers``.

The TFLite Task Library and MediaPipe Tasks read a model's description from
the TFLite metadata schema (tflite-support ``metadata_schema.fbs``, file
identifier "M001"): a ``ModelMetadata`` flatbuffer stored in one of the
model's buffers, named by the model's metadata entry "TFLITE_METADATA", and
the associated files (here the label file) in an uncompressed zip archive
appended to the model, so that a .tflite with metadata is also a zip file.

No library that writes this metadata installs beside TensorFlow 2.21, so the
few tables needed are described below by their fields in schema order (a
field's id is its position; a union takes two ids: its type, then its value)
and one generic encoder and decoder work from that description.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from flatbuffers import number_types as types

from deeplab_tf.artifacts.modes import InputDtype, Output
from deeplab_tf.export.flatbuffer import pack_model

METADATA_NAME = "TFLITE_METADATA"  # the model's metadata entry naming the buffer
IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
# The oldest metadata parser that reads every field written here: none of them
# came after the schema's 1.0.0 (metadata_version.cc lists the later ones).
MIN_PARSER_VERSION = "1.0.0"

# --- the schema: tables (fields by id), enums and unions (members by value) ------

_TABLES = {
    "ModelMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("version", "string"),
        ("subgraph_metadata", "[SubGraphMetadata]"),
        ("author", "string"),
        ("license", "string"),
        ("associated_files", "[AssociatedFile]"),
        ("min_parser_version", "string"),
    ),
    "SubGraphMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("input_tensor_metadata", "[TensorMetadata]"),
        ("output_tensor_metadata", "[TensorMetadata]"),
        ("associated_files", "[AssociatedFile]"),
    ),
    "TensorMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("dimension_names", "[string]"),
        ("content", "Content"),
        ("process_units", "[ProcessUnit]"),
        ("stats", "Stats"),
        ("associated_files", "[AssociatedFile]"),
    ),
    "Content": (("content_properties", "union ContentProperties"), ("range", "ValueRange")),
    "ImageProperties": (("color_space", "enum ColorSpaceType"), ("default_size", "ImageSize")),
    "ImageSize": (("width", "uint32"), ("height", "uint32")),
    "ValueRange": (("min", "int32"), ("max", "int32")),
    "ProcessUnit": (("options", "union ProcessUnitOptions"),),
    "NormalizationOptions": (("mean", "[float]"), ("std", "[float]")),
    "Stats": (("max", "[float]"), ("min", "[float]")),
    "AssociatedFile": (
        ("name", "string"),
        ("description", "string"),
        ("type", "enum AssociatedFileType"),
        ("locale", "string"),
    ),
}
_ENUMS = {  # all stored as a signed byte
    "ColorSpaceType": ("UNKNOWN", "RGB", "GRAYSCALE"),
    "AssociatedFileType": (
        "UNKNOWN",
        "DESCRIPTIONS",
        "TENSOR_AXIS_LABELS",
        "TENSOR_VALUE_LABELS",
        "TENSOR_AXIS_SCORE_CALIBRATION",
        "VOCABULARY",
    ),
}
_UNIONS = {  # the type is an unsigned byte, 0 = NONE
    "ContentProperties": ("NONE", "FeatureProperties", "ImageProperties", "BoundingBoxProperties", "AudioProperties"),
    "ProcessUnitOptions": (
        "NONE",
        "NormalizationOptions",
        "ScoreCalibrationOptions",
        "ScoreThresholdingOptions",
        "BertTokenizerOptions",
        "SentencePieceTokenizerOptions",
        "RegexTokenizerOptions",
    ),
}
_SCALARS = {  # kind -> (number type flags, builder's slot method)
    "uint32": (types.Uint32Flags, "PrependUint32Slot"),
    "int32": (types.Int32Flags, "PrependInt32Slot"),
    "enum": (types.Int8Flags, "PrependInt8Slot"),
    "union": (types.Uint8Flags, "PrependUint8Slot"),
}


def _encode(builder: flatbuffers.Builder, table: str, values: dict) -> int:
    """Builds ``table`` from a dict of its fields (unions as ``{f}_type``: member
    name, ``f``: member dict; enums by name) and returns its offset."""
    fields = _TABLES[table]
    allowed = {name for name, _ in fields} | {f"{name}_type" for name, kind in fields if kind.startswith("union")}
    if set(values) - allowed:
        raise ValueError(f"{table} has no field(s) {sorted(set(values) - allowed)}; fields: {sorted(allowed)}")
    scalars, offsets, slot = [], [], 0
    for name, kind in fields:  # children first: a flatbuffer table cannot be built while another is open
        value = values.get(name)
        if kind.startswith("union"):
            if value is not None:
                member = values[f"{name}_type"]
                scalars.append((slot, "union", _UNIONS[kind.split()[1]].index(member)))
                offsets.append((slot + 1, _encode(builder, member, value)))
            slot += 2
            continue
        if value is None:
            pass
        elif kind.startswith("enum"):
            scalars.append((slot, "enum", _ENUMS[kind.split()[1]].index(value)))
        elif kind in _SCALARS:
            scalars.append((slot, kind, int(value)))
        elif kind == "string":
            offsets.append((slot, builder.CreateString(value)))
        elif kind == "[float]":
            offsets.append((slot, builder.CreateNumpyVector(np.asarray(value, np.float32))))
        elif kind.startswith("["):
            items = [builder.CreateString(v) if kind == "[string]" else _encode(builder, kind[1:-1], v) for v in value]
            builder.StartVector(4, len(items), 4)
            for item in reversed(items):
                builder.PrependUOffsetTRelative(item)
            offsets.append((slot, builder.EndVector()))
        else:
            offsets.append((slot, _encode(builder, kind, value)))
        slot += 1
    builder.StartObject(slot)
    for field, kind, value in scalars:
        getattr(builder, _SCALARS[kind][1])(field, value, 0)
    for field, offset in offsets:
        builder.PrependUOffsetTRelativeSlot(field, offset, 0)
    return builder.EndObject()


def _decode(buffer: bytes, position: int, table: str) -> dict:
    """The fields of ``table`` at ``position`` present in ``buffer`` (scalars
    always, with their default 0), in the dict form ``_encode`` takes."""
    tab = flatbuffers.table.Table(buffer, position)
    values, slot = {}, 0
    for name, kind in _TABLES[table]:
        offset = tab.Offset(4 + 2 * slot)
        if kind.startswith("union"):
            value_offset = tab.Offset(6 + 2 * slot)
            slot += 2
            member = _UNIONS[kind.split()[1]][tab.Get(types.Uint8Flags, offset + tab.Pos) if offset else 0]
            if value_offset:  # a member this module does not describe is named, not parsed
                values[f"{name}_type"] = member
                values[name] = (
                    _decode(buffer, tab.Indirect(value_offset + tab.Pos), member) if member in _TABLES else None
                )
            continue
        slot += 1
        if kind.startswith("enum") or kind in _SCALARS:
            number = tab.Get(_SCALARS[kind.split()[0]][0], offset + tab.Pos) if offset else 0
            values[name] = _ENUMS[kind.split()[1]][number] if kind.startswith("enum") else number
        elif not offset:
            continue
        elif kind == "string":
            values[name] = tab.String(offset + tab.Pos).decode()
        elif kind == "[float]":
            values[name] = [float(v) for v in tab.GetVectorAsNumpy(types.Float32Flags, offset)]
        elif kind.startswith("["):
            start = tab.Vector(offset)
            items = [start + 4 * i for i in range(tab.VectorLen(offset))]
            if kind == "[string]":
                values[name] = [tab.String(item).decode() for item in items]
            else:
                values[name] = [_decode(buffer, tab.Indirect(item), kind[1:-1]) for item in items]
        else:
            values[name] = _decode(buffer, tab.Indirect(offset + tab.Pos), kind)
    return values


# --- what a DeepLab export says about itself -------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the metadata says about an exported model.

    Attributes:
      name, version, description: shown by model viewers and the Task Library.
      labels: class names, index = class id; packed as "labels.txt".
      input_dtype: "uint8" (RGB pixels, normalization folded into the model)
        or "float32" (the app normalizes: NormalizationOptions are written).
      mean, std: pixel-space (0..255) normalization ``x = (pixel - mean) / std``.
      output: "scores" (per-class probabilities [1, H, W, C]) or "mask"
        (class ids [1, H, W] uint8).
      author, license: as written into the metadata.
    """

    name: str
    version: str
    description: str
    labels: tuple[str, ...]
    input_dtype: InputDtype
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: Output
    author: str = "deeplab_tf"
    license: str = "Apache-2.0"

    def __post_init__(self):
        for field in ("name", "version"):
            if not str(getattr(self, field)).strip():
                raise ValueError(f"ModelInfo.{field} must not be empty")
        object.__setattr__(self, "input_dtype", InputDtype.parse(self.input_dtype, "ModelInfo.input_dtype"))
        object.__setattr__(self, "output", Output.parse(self.output, "ModelInfo.output"))
        if not self.labels:
            raise ValueError("ModelInfo.labels must name at least one class")
        bad = [label for label in self.labels if not isinstance(label, str) or not label.strip() or "\n" in label]
        if bad:
            raise ValueError(f"labels must be non-empty one-line strings, got {bad[:5]}")
        for field in ("mean", "std"):
            if len(getattr(self, field)) != 3:
                raise ValueError(f"ModelInfo.{field} needs 3 values (R, G, B), got {getattr(self, field)!r}")
        if min(self.std) <= 0:
            raise ValueError(f"ModelInfo.std must be positive, got {self.std!r}")


_DTYPES = {schema.TensorType.UINT8: "uint8", schema.TensorType.FLOAT32: "float32", schema.TensorType.INT8: "int8"}


def _check_tflite(tflite_bytes: bytes) -> None:
    if len(tflite_bytes) < 8 or not flatbuffers.util.BufferHasIdentifier(tflite_bytes, 0, b"TFL3"):
        raise ValueError("not a TFLite model: the flatbuffer identifier 'TFL3' is missing")


def _io_tensor(subgraph: schema.SubGraphT, index: int) -> tuple[tuple[int, ...], str]:
    tensor = subgraph.tensors[index]
    return tuple(int(s) for s in tensor.shape), _DTYPES.get(tensor.type, f"type {tensor.type}")


def _check_model(model: schema.ModelT, info: ModelInfo) -> tuple[int, int]:
    """Raises unless the model is one DeepLab export matching ``info``; returns (H, W)."""
    if len(model.subgraphs) != 1 or len(model.subgraphs[0].inputs) != 1 or len(model.subgraphs[0].outputs) != 1:
        raise ValueError("the model must have one subgraph with one input and one output")
    if any(buffer.offset for buffer in model.buffers):
        raise ValueError("models with buffers stored outside the flatbuffer (> 2 GB) are not supported")
    subgraph = model.subgraphs[0]
    (shape, dtype), (out_shape, out_dtype) = (_io_tensor(subgraph, t) for t in (*subgraph.inputs, *subgraph.outputs))
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
        raise ValueError(f"the input must be one RGB image [1, H, W, 3], got {list(shape)}")
    if dtype != info.input_dtype:
        raise ValueError(f"ModelInfo.input_dtype is {info.input_dtype.value!r} but the model's input is {dtype}")
    classes = len(info.labels)
    if len(out_shape) == 4 and out_shape[-1] != classes:
        raise ValueError(f"{classes} labels for a model with {out_shape[-1]} classes")
    if not info.output.is_mask and (out_shape != (1, *shape[1:3], classes) or out_dtype not in ("uint8", "float32")):
        raise ValueError(
            f"output 'scores' must be uint8 or float32 [1, {shape[1]}, {shape[2]}, C], got {out_dtype} {list(out_shape)}"
        )
    if info.output.is_mask and (out_shape != (1, *shape[1:3]) or out_dtype != "uint8" or classes > 256):
        raise ValueError(
            f"output 'mask' must be uint8 [1, {shape[1]}, {shape[2]}] with at most 256 labels, "
            f"got {out_dtype} {list(out_shape)} and {classes} labels"
        )
    return shape[1], shape[2]


def _model_metadata(info: ModelInfo, height: int, width: int) -> dict:
    """The ModelMetadata table as a dict (the form ``_encode`` takes)."""
    mean, std = np.asarray(info.mean, np.float64), np.asarray(info.std, np.float64)
    image = {
        "name": "image",
        "content": {
            "content_properties_type": "ImageProperties",
            "content_properties": {"color_space": "RGB", "default_size": {"width": width, "height": height}},
        },
    }
    if info.input_dtype.folds_normalization:
        image["description"] = f"RGB pixels 0..255, uint8 [1, {height}, {width}, 3]; the model normalizes them."
        image["stats"] = {"max": [255.0], "min": [0.0]}
    else:
        image["description"] = f"RGB image [1, {height}, {width}, 3] normalized as (pixel - mean) / std."
        image["process_units"] = [
            {"options_type": "NormalizationOptions", "options": {"mean": list(info.mean), "std": list(info.std)}}
        ]
        image["stats"] = {"max": list((255.0 - mean) / std), "min": list(-mean / std)}
    labels = {"name": LABELS_FILE, "description": "Class names, one per line; line i names class id i."}
    if not info.output.is_mask:
        output = {
            "name": "segmentation_masks",
            "description": f"Per-class probabilities [1, {height}, {width}, {len(info.labels)}] at the input "
            "resolution (uint8: probability * 256); a pixel's class is the argmax over the last axis.",
        }
        labels["type"] = "TENSOR_AXIS_LABELS"
    else:
        output = {
            "name": "category_mask",
            "description": f"Class id of each pixel, uint8 [1, {height}, {width}].",
        }
        labels["type"] = "TENSOR_VALUE_LABELS"
    output["content"] = {
        "content_properties_type": "ImageProperties",
        "content_properties": {"color_space": "GRAYSCALE"},
        "range": {"min": 1, "max": 2},  # the image spans axes 1..2 (H, W)
    }
    output["associated_files"] = [labels]
    return {
        "name": info.name,
        "description": info.description,
        "version": info.version,
        "subgraph_metadata": [{"input_tensor_metadata": [image], "output_tensor_metadata": [output]}],
        "author": info.author,
        "license": info.license,
        "min_parser_version": MIN_PARSER_VERSION,
    }


def _append_zip(flatbuffer: bytes, files: dict[str, bytes]) -> bytes:
    """``flatbuffer`` followed by an uncompressed zip of ``files`` whose offsets
    count from the start of the whole file, as the metadata extractors (minizip)
    read it. Fixed timestamps: the same input gives the same bytes."""
    stream = io.BytesIO(flatbuffer)
    stream.seek(0, io.SEEK_END)
    # Mode "w" on a positioned stream writes from there on (mode "a" would first
    # look for a zip directory in the flatbuffer's bytes).
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return stream.getvalue()


def add_metadata(tflite_bytes: bytes, info: ModelInfo) -> bytes:
    """Returns the model with TFLite metadata and its label file.

    Pure: the input is not changed and the same input gives the same bytes.
    Existing TFLite metadata (and associated files) is replaced; the other
    metadata entries (e.g. "min_runtime_version") are kept as they are.

    Args:
      tflite_bytes: a model from ``deeplab_tf.export.conversion.convert``: input
        "image" [1, H, W, 3], output scores [1, H, W, C] or mask [1, H, W].
      info: what to write.

    Returns:
      The .tflite bytes: the model flatbuffer with a "TFLITE_METADATA" entry,
      followed by a zip holding "labels.txt".

    Raises:
      ValueError: the bytes are not a TFLite model, or the model does not fit
        ``info`` (input dtype, output kind or shape, label count).
    """
    _check_tflite(tflite_bytes)
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    height, width = _check_model(model, info)
    builder = flatbuffers.Builder(4096)
    builder.Finish(_encode(builder, "ModelMetadata", _model_metadata(info, height, width)), file_identifier=IDENTIFIER)
    data = np.frombuffer(bytes(builder.Output()), np.uint8)
    entries = [entry for entry in model.metadata or [] if entry.name in (METADATA_NAME, METADATA_NAME.encode())]
    if entries:
        model.buffers[entries[0].buffer].data = data
    else:
        entry, buffer = schema.MetadataT(), schema.BufferT()
        entry.name, entry.buffer, buffer.data = METADATA_NAME.encode(), len(model.buffers), data
        model.buffers.append(buffer)
        model.metadata = [*(model.metadata or []), entry]
    packed = pack_model(model, len(tflite_bytes) + len(data))
    labels = "".join(f"{label}\n" for label in info.labels).encode()
    return _append_zip(packed, {LABELS_FILE: labels})


def read_metadata(tflite_bytes: bytes) -> dict:
    """Parses a model's TFLite metadata and associated files.

    Returns:
      The ModelMetadata fields as a dict (schema field names; enums and union
      members by name; e.g. ``["subgraph_metadata"][0]["input_tensor_metadata"]``),
      plus ``"files"``: ``{name: bytes}`` of the zip appended to the model,
      and ``"min_runtime_version"``: the model's own entry (or None).

    Raises:
      ValueError: not a TFLite model, no "TFLITE_METADATA" entry, or a
        metadata buffer without the "M001" identifier.
    """
    _check_tflite(tflite_bytes)
    model = schema.Model.GetRootAs(tflite_bytes, 0)
    entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    if METADATA_NAME not in entries:
        raise ValueError(f"the model has no {METADATA_NAME} entry (metadata entries: {sorted(entries)})")
    buffer = model.Buffers(entries[METADATA_NAME]).DataAsNumpy().tobytes()
    if not flatbuffers.util.BufferHasIdentifier(buffer, 0, IDENTIFIER):
        raise ValueError(f"the {METADATA_NAME} buffer is not a metadata flatbuffer (identifier {IDENTIFIER!r})")
    result = _decode(buffer, flatbuffers.encode.Get(types.UOffsetTFlags.packer_type, buffer, 0), "ModelMetadata")
    files = {}
    if zipfile.is_zipfile(io.BytesIO(tflite_bytes)):
        with zipfile.ZipFile(io.BytesIO(tflite_bytes)) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    result["files"] = files
    runtime = entries.get("min_runtime_version")
    if runtime is not None:
        runtime = model.Buffers(runtime).DataAsNumpy().tobytes().split(b"\0")[0].decode()
    result["min_runtime_version"] = runtime
    return result
