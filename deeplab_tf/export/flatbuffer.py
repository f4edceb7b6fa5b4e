"""Serializing an edited TFLite model (``schema.ModelT``) back to bytes."""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

# Byte vectors (constant buffers: weights, biases, metadata) start on 16 bytes,
# as the converter writes them, so that kernels can read weights in place.
BYTES_ALIGNMENT = 16


_BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


def builtin_code(code: schema.OperatorCodeT) -> int:
    """An operator code's ``BuiltinOperator`` value: the larger of its two fields (a code
    past 127 sits in ``builtinCode``, the deprecated int8 field then holds 127; an older
    file has only the deprecated one)."""
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def operator_name(model: schema.ModelT, operator: schema.OperatorT) -> str:
    """The builtin name of ``operator`` (e.g. "CONV_2D"), "CUSTOM" for a custom op."""
    return _BUILTIN_NAMES.get(builtin_code(model.operatorCodes[operator.opcodeIndex]), "CUSTOM")


class _SharingBuilder(flatbuffers.Builder):
    """A builder that writes each distinct numeric vector once.

    A flatbuffer table refers to a vector by offset, so tables may share one.
    An int8 model repeats the same per-channel zero points (int64 zeros) for
    the weights and the bias of every convolution: written once per width,
    they take a tenth of a MobileNetV2 DeepLab's int8 file less. Identical
    shapes and constant buffers are shared the same way. A reader sees the
    same values at the same indices.
    """

    def __init__(self, size: int):
        super().__init__(size)
        self._written: dict[tuple, int] = {}

    def CreateNumpyVector(self, x: np.ndarray) -> int:  # noqa: N802 (flatbuffers' name)
        key = (x.dtype.str, x.shape, x.tobytes())
        offset = self._written.get(key)
        if offset is None:
            if x.dtype == np.uint8 and x.size >= BYTES_ALIGNMENT:
                offset = self._aligned_bytes(x.tobytes())
            else:
                offset = super().CreateNumpyVector(x)
            self._written[key] = offset
        return offset

    def _aligned_bytes(self, data: bytes) -> int:
        self.StartVector(1, len(data), BYTES_ALIGNMENT)
        self.head -= len(data)
        self.Bytes[self.head : self.head + len(data)] = data
        self.vectorNumElems = len(data)
        return self.EndVector()


def pack_model(model: schema.ModelT, size_hint: int = 1 << 20) -> bytes:
    """``model`` as .tflite bytes (identifier "TFL3"), each distinct vector written once.

    Args:
      model: the object form of a model, e.g. from ``ModelT.InitFromPackedBuf``
        (whose vectors are numpy arrays: only those are shared).
      size_hint: the expected size in bytes (the builder grows past it).
    """
    builder = _SharingBuilder(size_hint + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
