"""Reading released DeepLab weights: TF1 checkpoints, model-zoo tarballs, float .tflite files.

Each reader gives a ``Source``: the weights by their original names (research/deeplab's and
TF-slim's variable names), and whether batch norm is folded into the convolutions (a .tflite).
Nothing here knows a Keras model; ``importing.mapping`` pairs the names with layers.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tarfile
import uuid

import numpy as np

# Checkpoint variables that are not weights of the network: training state, left out.
_TRAINING_STATE = re.compile(
    r"(^|/)(global_step|beta1_power|beta2_power)$|/(Momentum|Adam|Adam_1|RMSProp|RMSProp_1|ExponentialMovingAverage)$"
)
KINDS = ("tf1_checkpoint", "tarball", "tflite")


@dataclasses.dataclass(frozen=True)
class Source:
    """Released weights by name.

    Attributes:
      path: what was read.
      kind: "tf1_checkpoint", "tarball" (a model-zoo .tar.gz) or "tflite".
      values: original variable name -> array, in the original layout (TF1:
        conv HWIO, depthwise [H, W, C, 1]; .tflite: conv OHWI, depthwise [1, H, W, C]).
      folded: batch norm folded into the convolutions (a .tflite): each conv has
        a bias and no BatchNorm variables.
      ignored: names read but not weights of the network (optimizer slots,
        global_step; a .tflite's integer shape constants).
      member: the checkpoint inside a tarball (its prefix in the archive).
    """

    path: str
    kind: str
    values: dict[str, np.ndarray]
    folded: bool
    ignored: tuple[str, ...] = ()
    member: str | None = None


def read_source(path: str) -> Source:
    """The weights in ``path``: a TF1 checkpoint prefix (``model.ckpt-30000``), a model-zoo
    ``.tar.gz`` as downloaded (read in memory: nothing is extracted to disk), or a float ``.tflite``.

    Raises:
      FileNotFoundError: nothing at ``path`` (for a prefix: no ``PATH.index``).
      ValueError: a file of another kind, a tarball without exactly one checkpoint, an
        object-based (TF2) checkpoint, a quantized .tflite.
    """
    path = os.fspath(path)
    if path.endswith((".tar.gz", ".tgz", ".tar")):
        return _read_tarball(path)
    if path.endswith(".tflite"):
        return _read_tflite(path)
    if os.path.isdir(path):
        raise ValueError(
            f"{path} is a folder: pass a checkpoint prefix (e.g. {os.path.join(path, 'model.ckpt-30000')}), "
            "a model-zoo .tar.gz or a .tflite file"
        )
    if not os.path.exists(f"{path}.index"):
        if os.path.exists(path):
            raise ValueError(f"{path} is neither a .tflite, a .tar.gz nor a TF1 checkpoint prefix (no {path}.index)")
        raise FileNotFoundError(f"no weights at {path}: neither a file nor a checkpoint prefix ({path}.index)")
    values, ignored = _read_checkpoint(path, path)
    return Source(path, "tf1_checkpoint", values, folded=False, ignored=ignored)


def _read_checkpoint(prefix: str, shown: str) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    import tensorflow as tf

    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(f"cannot read checkpoint {shown}: {error}") from None
    names = sorted(reader.get_variable_to_shape_map())
    if any(name.endswith("/.ATTRIBUTES/VARIABLE_VALUE") for name in names):
        raise ValueError(
            f"{shown} is an object-based (TF2) checkpoint; deeplab-import reads the original TF1 "
            "checkpoints (tf.compat.v1 Saver names such as MobilenetV2/Conv/weights). A deeplab_tf "
            "model_dir needs no import: pass it to deeplab-train --init_from"
        )
    values, ignored = {}, []
    for name in names:
        if _TRAINING_STATE.search(name):
            ignored.append(name)
        else:
            values[name] = np.asarray(reader.get_tensor(name))
    return values, tuple(ignored)


def _read_tarball(path: str) -> Source:
    """A model-zoo archive: its one ``*.index`` + ``*.data-*`` checkpoint, copied into TF's
    in-memory file system (``ram://``), read, and deleted from it."""
    import tensorflow as tf

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no archive at {path}")
    try:
        archive = tarfile.open(path, "r:*")
    except tarfile.TarError as error:
        raise ValueError(f"{path} is not a readable tar archive: {error}") from None
    with archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        prefixes = sorted({m.name[: -len(".index")] for m in members if m.name.endswith(".index")})
        if len(prefixes) != 1:
            found = ", ".join(prefixes) or "none"
            raise ValueError(f"{path} must hold exactly one TF1 checkpoint (*.index); found: {found}")
        (prefix,) = prefixes
        parts = [m for m in members if m.name == f"{prefix}.index" or m.name.startswith(f"{prefix}.data-")]
        if len(parts) < 2:
            raise ValueError(f"{path}: checkpoint {prefix} has an index but no data file ({prefix}.data-*)")
        root, written = f"ram://deeplab_import_{uuid.uuid4().hex}", []
        try:
            for member in parts:
                written.append(f"{root}/{member.name}")
                with tf.io.gfile.GFile(written[-1], "wb") as out:
                    out.write(archive.extractfile(member).read())
            values, ignored = _read_checkpoint(f"{root}/{prefix}", f"{path}:{prefix}")
        finally:
            for name in written:
                if tf.io.gfile.exists(name):
                    tf.io.gfile.remove(name)
    return Source(path, "tarball", values, folded=False, ignored=ignored, member=prefix)


def _read_tflite(path: str) -> Source:
    """The float constants of a .tflite (weights and folded biases) by tensor name."""
    from ai_edge_litert import schema_py_generated as schema

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no .tflite at {path}")
    data = open(path, "rb").read()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier)")
    model = schema.Model.GetRootAs(data, 0)
    subgraph = model.Subgraphs(0)
    values, ignored, quantized = {}, [], []
    for i in range(subgraph.TensorsLength()):
        tensor = subgraph.Tensors(i)
        buffer = model.Buffers(tensor.Buffer())
        if buffer is None or buffer.DataLength() == 0:
            continue  # an activation
        name = tensor.Name().decode()
        if tensor.Type() != schema.TensorType.FLOAT32:
            (quantized if tensor.Type() in (schema.TensorType.INT8, schema.TensorType.UINT8) else ignored).append(name)
            continue
        shape = tuple(tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        values[name] = buffer.DataAsNumpy().view(np.float32).reshape(shape).copy()
    if quantized:
        raise ValueError(
            f"{path} is a quantized model ({len(quantized)} 8-bit weight tensors, e.g. {quantized[0]}): "
            "import the float .tflite it was made from"
        )
    return Source(path, "tflite", values, folded=True, ignored=tuple(sorted(ignored)))
