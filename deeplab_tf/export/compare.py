"""Comparing two .tflite files for what a consumer relies on, independently of the CPU that made them.

The converter folds batch norm and constants in float32 with whatever instructions the CPU
offers (AVX2, AVX-512, FMA or not), so one export on two machines can differ in the last bit
of a weight and, through it, by one unit of an int8 weight or an int32 bias. Everything else
(graph structure, op list and options, tensor names, shapes and types, zero points,
metadata) must be identical. ``differences`` says where two files differ beyond that.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
from ai_edge_litert import schema_py_generated as schema

# TensorType -> numpy dtype of a constant buffer's elements.
_DTYPES = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.FLOAT16: np.float16,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT64: np.int64,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.INT16: np.int16,
    schema.TensorType.BOOL: np.bool_,
}


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far two exports of one model may differ and still be the same model.

    Attributes:
      float_ulp: the values of float constants (weights, biases), in units in the last place.
      scale_rtol: quantization scales, min and max, relative to the larger of the two.
      quantized_steps: quantized constants (int8 weights, int32 biases), compared as the real
        values they stand for (``scale * (q - zero_point)``, each file with its own scale): at
        most this many quantization steps apart, plus ``scale_rtol`` of the value (a bias of a
        million steps moves with its scale).
    """

    float_ulp: int = 0
    scale_rtol: float = 0.0
    quantized_steps: int = 0


EXACT = Tolerance()
# Two exports of one model on two x86-64 CPUs (AMD EPYC with AVX2, Intel Xeon with AVX-512),
# measured on mobile/contract's models: float weights 1 ulp apart, calibrated scales up to
# 2.3e-6 apart (19 ulp, on a collapsed 2e-10 scale), int8 weights one step, int32 biases a few
# steps of a 6e6-step value. The tolerance leaves a margin over that; any real change to a
# model (another seed, calibration set, folding or rounding rule) is far outside it.
ACROSS_CPUS = Tolerance(float_ulp=4, scale_rtol=1e-4, quantized_steps=1)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise distance of two float arrays in units in the last place (0 for equal
    values, including +0 and -0; a NaN is far from everything)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == np.float16:
        bits, sign = a.view(np.int16).astype(np.int64), 0x7FFF
        other = b.view(np.int16).astype(np.int64)
    elif a.dtype == np.float64:
        bits, sign = a.view(np.int64), 0x7FFFFFFFFFFFFFFF
        other = b.view(np.int64)
    else:
        a, b = a.astype(np.float32), b.astype(np.float32)
        bits, sign = a.view(np.int32).astype(np.int64), 0x7FFFFFFF
        other = b.view(np.int32).astype(np.int64)
    ordered = lambda x: np.where(x < 0, -(x & sign), x)  # noqa: E731 (monotonic in the float's value)
    distance = np.abs(ordered(bits) - ordered(other))
    return np.where(np.isnan(a) | np.isnan(b), np.iinfo(np.int64).max, distance)


def first_difference(a: bytes, b: bytes) -> int | None:
    """The offset of the first byte where ``a`` and ``b`` differ (the shorter one's length
    when one is a prefix of the other), or None when they are equal."""
    if a == b:
        return None
    n = min(len(a), len(b))
    left, right = np.frombuffer(a, np.uint8, n), np.frombuffer(b, np.uint8, n)
    unequal = np.flatnonzero(left != right)
    return int(unequal[0]) if unequal.size else n


def bytes_difference(a: bytes, b: bytes) -> str | None:
    """None when ``a == b``, else one line: sizes, digests and the first differing byte (what
    a test prints instead of a diff of two large byte strings)."""
    at = first_difference(a, b)
    if at is None:
        return None
    show = lambda data: f"0x{data[at]:02x}" if at < len(data) else "the end"  # noqa: E731
    digest = lambda data: hashlib.sha256(data).hexdigest()[:12]  # noqa: E731
    return (f"{len(a)} bytes (sha256 {digest(a)}) against {len(b)} (sha256 {digest(b)}), "
            f"first difference at byte {at}: {show(a)} against {show(b)}")  # fmt: skip


def differences(new: bytes, old: bytes, tolerance: Tolerance = EXACT, limit: int = 20) -> list[str]:
    """What differs between two .tflite files beyond ``tolerance``, one line each (at most
    ``limit``); empty when they are the same model.

    Compared exactly: operator codes, subgraphs (ops, their inputs, outputs and options; tensor
    names, shapes, types, zero points, quantized dimensions), signatures, metadata names and the
    bytes of every buffer that is not a tensor's constant (the metadata). Within ``tolerance``:
    quantization scales, min and max, and the values of constant tensors.
    """
    a, b = (schema.ModelT.InitFromPackedBuf(x, 0) for x in (new, old))
    found: list[str] = []
    _compare(a, b, "model", tolerance, found)
    constants, old_constants = _constant_tensors(a), _constant_tensors(b)
    if len(a.buffers or []) != len(b.buffers or []):
        found.append(f"model.buffers: {len(a.buffers or [])} against {len(b.buffers or [])}")
    for index, (x, y) in enumerate(zip(a.buffers or [], b.buffers or [], strict=False)):
        left, right = _bytes(x), _bytes(y)
        if left == right:
            continue
        where = f"buffers[{index}]"
        if index not in constants or len(left) != len(right):
            found.append(f"{where}: {len(left)} bytes against {len(right)}, first difference at byte "
                         f"{first_difference(left, right)}")  # fmt: skip
            continue
        tensor, other = constants[index], old_constants.get(index)
        if other is None:
            found.append(f"{where}: a constant of {tensor.name!r} in the first file only")
            continue
        problem = _constant_difference(tensor, other, left, right, tolerance)
        if problem:
            found.append(f"{where} (tensor {_name(tensor)!r}): {problem}")
    return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])


def _bytes(buffer) -> bytes:
    data = getattr(buffer, "data", None)
    return b"" if data is None else np.asarray(data, np.uint8).tobytes()


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def _constant_tensors(model) -> dict:
    """buffer index -> the (first) tensor holding that constant."""
    found = {}
    for subgraph in model.subgraphs or []:
        for tensor in subgraph.tensors or []:
            if tensor.buffer and tensor.type in _DTYPES and _bytes(model.buffers[tensor.buffer]):
                found.setdefault(tensor.buffer, tensor)
    return found


def _real_values(tensor, data: bytes) -> np.ndarray:
    """A quantized constant as the real numbers it stands for, per channel where it is."""
    q = np.frombuffer(data, _DTYPES[tensor.type]).astype(np.float64)
    quantization = tensor.quantization
    scale = np.asarray(quantization.scale, np.float64)
    zero = np.asarray(quantization.zeroPoint if quantization.zeroPoint is not None else 0, np.float64)
    if scale.size > 1:
        shape = [1] * len(tensor.shape)
        shape[quantization.quantizedDimension] = scale.size
        q = q.reshape(tuple(tensor.shape))
        scale, zero = scale.reshape(shape), np.broadcast_to(zero, scale.shape).reshape(shape)
    return (q - zero) * scale, np.broadcast_to(scale, q.shape)


def _constant_difference(tensor, other, left: bytes, right: bytes, tolerance: Tolerance) -> str | None:
    dtype = _DTYPES[tensor.type]
    u, v = np.frombuffer(left, dtype), np.frombuffer(right, dtype)
    scale = getattr(tensor.quantization, "scale", None)
    if np.issubdtype(dtype, np.floating):
        distance = ulp_distance(u, v)
        beyond, unit = (
            distance > tolerance.float_ulp,
            f"{int(distance.max())} ulp apart (allowed {tolerance.float_ulp})",
        )
    elif scale is not None and len(scale) > 0:
        (x, sx), (y, sy) = _real_values(tensor, left), _real_values(other, right)
        allowed = tolerance.quantized_steps * np.maximum(sx, sy) + tolerance.scale_rtol * np.maximum(abs(x), abs(y))
        beyond = np.abs(x - y).ravel() > allowed.ravel()
        steps = np.abs(x - y).ravel() / np.maximum(sx, sy).ravel()
        unit = f"as real values {float(steps.max()):.3g} steps apart (allowed {tolerance.quantized_steps} + {tolerance.scale_rtol:g} of the value)"
    else:
        beyond, unit = u != v, "(an unquantized integer constant must be equal)"
    if not beyond.any():
        return None
    worst = int(np.flatnonzero(beyond)[0])
    return (f"{np.dtype(dtype).name} element {worst} is {u[worst]} against {v[worst]}, {unit}; "
            f"{int(beyond.sum())} of {u.size} elements beyond")  # fmt: skip


_SCALES = ("scale", "min", "max")


def _compare(x, y, where: str, tolerance: Tolerance, found: list[str]) -> None:
    if where == "model.buffers":  # the constants: compared by differences() with their tensors
        return
    if x is None or y is None or isinstance(x, (bool, int, str, bytes)) or isinstance(y, (bool, int, str, bytes)):
        if type(x) is not type(y) or x != y:
            found.append(f"{where}: {x!r} against {y!r}")
        return
    if isinstance(x, (float, np.ndarray)) or isinstance(y, (float, np.ndarray)):
        u, v = np.asarray(x), np.asarray(y)
        if u.shape != v.shape or u.dtype != v.dtype:
            found.append(f"{where}: {u.dtype}{list(u.shape)} against {v.dtype}{list(v.shape)}")
        elif np.issubdtype(u.dtype, np.floating) and where.rsplit(".", 1)[-1] in _SCALES:
            relative = np.abs(u - v) / np.maximum(np.maximum(abs(u), abs(v)), np.finfo(u.dtype).tiny)
            if relative.size and not relative.max() <= tolerance.scale_rtol:
                worst = int(np.nanargmax(np.where(np.isnan(relative), np.inf, relative)))
                found.append(f"{where}[{worst}]: {u.flat[worst]!r} against {v.flat[worst]!r}, relative difference "
                             f"{relative.flat[worst]:.3g} (allowed {tolerance.scale_rtol:g})")  # fmt: skip
        elif np.issubdtype(u.dtype, np.floating):
            distance = ulp_distance(u, v)
            if distance.size and distance.max() > tolerance.float_ulp:
                worst = int(np.argmax(distance))
                found.append(f"{where}[{worst}]: {u.flat[worst]!r} against {v.flat[worst]!r}, "
                             f"{int(distance.max())} ulp apart (allowed {tolerance.float_ulp})")  # fmt: skip
        elif not np.array_equal(u, v):
            worst = int(np.flatnonzero(u.ravel() != v.ravel())[0]) if u.size else 0
            found.append(f"{where}[{worst}]: {u.flat[worst]!r} against {v.flat[worst]!r}")
        return
    if isinstance(x, list) or isinstance(y, list):
        if not isinstance(x, list) or not isinstance(y, list) or len(x) != len(y):
            found.append(f"{where}: {_length(x)} against {_length(y)} elements")
            return
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _compare(u, v, f"{where}[{i}]", tolerance, found)
        return
    if type(x) is not type(y):
        found.append(f"{where}: {type(x).__name__} against {type(y).__name__}")
        return
    for key, value in vars(x).items():
        _compare(value, getattr(y, key), f"{where}.{key}", tolerance, found)


def _length(x) -> str:
    return str(len(x)) if isinstance(x, list) else repr(x)


# Outputs of one model on one input, run on two CPUs (or of two exports of one model): float
# scores a few ulp apart near 1 (measured 4.5e-8 between the contract's AMD and Intel exports),
# quantized outputs one step where a value sits on a rounding boundary.
OUTPUT_FLOAT_ATOL = 1e-5
OUTPUT_QUANTIZED_STEPS = 1


def output_difference(new: np.ndarray, old: np.ndarray) -> str | None:
    """None when two model outputs agree within OUTPUT_FLOAT_ATOL (float) or
    OUTPUT_QUANTIZED_STEPS (integer), else one line naming the worst element."""
    new, old = np.asarray(new), np.asarray(old)
    if new.shape != old.shape or new.dtype != old.dtype:
        return f"{new.dtype}{list(new.shape)} against {old.dtype}{list(old.shape)}"
    distance = np.abs(new.astype(np.float64) - old.astype(np.float64))
    allowed = OUTPUT_FLOAT_ATOL if np.issubdtype(new.dtype, np.floating) else OUTPUT_QUANTIZED_STEPS
    beyond = ~(distance <= allowed)  # NaN is beyond
    if not beyond.any():
        return None
    worst = np.unravel_index(int(np.argmax(np.where(beyond, np.nan_to_num(distance, nan=np.inf), -1))), new.shape)
    return (f"element {tuple(int(i) for i in worst)} is {new[worst]} against {old[worst]} (allowed {allowed} apart); "
            f"{int(beyond.sum())} of {new.size} elements beyond")  # fmt: skip
