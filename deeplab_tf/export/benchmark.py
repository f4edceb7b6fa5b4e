"""Latency, memory and graph figures of a .tflite file in the LiteRT interpreter.

Each timed configuration (threads, XNNPACK on or off) runs in a fresh Python
process that imports only numpy and the interpreter, so its peak resident
memory (VmHWM) is that of one interpreter running the model,
not of TensorFlow or of earlier configurations. The child loads this file by
path (not the ``deeplab_tf`` package, which would import TensorFlow): keep the
module-level imports to the standard library and numpy.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (the value at or above ``fraction`` of the runs)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(fraction * len(ordered))) - 1))]


def _peak_rss_kb() -> int:
    """This process's peak resident set (KiB): VmHWM, which starts afresh at exec
    (``getrusage``'s maxrss keeps the parent's peak across fork and exec on Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")


def _random_inputs(interpreter, rng: np.random.Generator) -> None:
    """Allocates and fills every input: the full integer range, or N(0, 1) floats."""
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        shape, dtype = detail["shape"], np.dtype(detail["dtype"])
        if dtype.kind in "ui":
            info = np.iinfo(dtype)
            value = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
        else:
            value = rng.standard_normal(shape).astype(dtype)
        interpreter.set_tensor(detail["index"], value)


def _worker(model_path: str, threads: int, xnnpack: bool, warmup: int, runs: int) -> dict:
    """Runs in the child: loads, warms up and times the model; returns the figures."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    baseline_kb = _peak_rss_kb()
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=model_path, num_threads=threads, experimental_op_resolver_type=resolver)
    _random_inputs(interpreter, np.random.default_rng(0))
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    peak_kb = _peak_rss_kb()
    return {
        "threads": threads,
        "xnnpack": xnnpack,
        "warmup": warmup,
        "runs": runs,
        "median_ms": statistics.median(times),
        "p90_ms": _percentile(times, 0.9),
        "min_ms": min(times),
        "mean_ms": statistics.fmean(times),
        "peak_rss_mb": peak_kb / 1024.0,
        "rss_increase_mb": (peak_kb - baseline_kb) / 1024.0,
    }


def _side_by_side_worker(model_paths: list[str], threads: int, warmup: int, rounds: int) -> dict:
    """Runs in the child: every model loaded at once, then ``rounds`` rounds that
    invoke each once, in turn (a load change hits every model alike), in the
    given order and in reverse on alternate rounds (what running after a given
    model costs falls on every model alike)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreters = []
    rng = np.random.default_rng(0)
    for path in model_paths:
        interpreter = Interpreter(model_path=path, num_threads=threads)
        _random_inputs(interpreter, rng)
        for _ in range(warmup):
            interpreter.invoke()
        interpreters.append(interpreter)
    times = [[] for _ in model_paths]
    order = list(zip(interpreters, times, strict=True))
    for index in range(rounds):
        for interpreter, series in order if index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            interpreter.invoke()
            series.append((time.perf_counter() - start) * 1000.0)
    return {"threads": threads, "warmup": warmup, "rounds": rounds, "times_ms": times}


def side_by_side(
    paths: Sequence[str], threads: int = 2, warmup: int = 5, rounds: int = 100, timeout: float = 1800
) -> list[dict]:
    """Times .tflite files against each other in one fresh process, XNNPACK on.

    Each round invokes every model once, in the given order (reversed on odd
    rounds), so a change of the machine's load falls on all of them; the
    ratios to the first file are what to compare on a shared machine.

    Returns:
      Per file, in order: ``{"model", "size_bytes", "threads", "rounds",
      "median_ms", "p90_ms", "min_ms", "ratio_to_first" (median of the
      per-round ratios of the first file's time to this one's: > 1 is faster)}``.

    Raises:
      ValueError: no file, or threads, warmup or rounds out of range.
      FileNotFoundError: a file does not exist.
      RuntimeError: the child failed (its stderr is in the message).
    """
    if not paths:
        raise ValueError("side_by_side needs at least one .tflite file")
    if threads < 1 or rounds < 1 or warmup < 0:
        raise ValueError(f"need threads >= 1, rounds >= 1, warmup >= 0; got {threads}, {rounds}, {warmup}")
    from deeplab_tf.artifacts.errors import ArgumentFileNotFoundError

    for path in paths:
        if not os.path.isfile(path):
            raise ArgumentFileNotFoundError(f"{path} does not exist (in `paths`)")
    args = {"model_paths": [os.path.abspath(p) for p in paths], "threads": threads, "warmup": warmup, "rounds": rounds}
    times = _run_child("_side_by_side_worker", args, timeout, "side-by-side timing")["times_ms"]
    return [
        {
            "model": os.path.abspath(path),
            "size_bytes": os.path.getsize(path),
            "threads": threads,
            "rounds": rounds,
            "median_ms": statistics.median(series),
            "p90_ms": _percentile(series, 0.9),
            "min_ms": min(series),
            "ratio_to_first": statistics.median(a / b for a, b in zip(times[0], series, strict=True)),
        }
        for path, series in zip(paths, times, strict=True)
    ]


def format_side_by_side(results: list[dict]) -> str:
    lines = [f"side by side, one process, XNNPACK, {results[0]['threads']} threads, {results[0]['rounds']} rounds"]
    lines.append(f"{'file':60s} {'MB':>6s} {'median':>8s} {'p90':>8s} {'min':>8s} {'first/this':>10s}")
    for r in results:
        name = os.path.basename(r["model"])
        lines.append(
            f"{name[-60:]:60s} {r['size_bytes'] / 1e6:6.2f} {r['median_ms']:8.2f} {r['p90_ms']:8.2f} "
            f"{r['min_ms']:8.2f} {r['ratio_to_first']:10.3f}"
        )
    return "\n".join(lines)


_CHILD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("deeplab_tflite_bench", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(getattr(module, sys.argv[3])(**json.loads(sys.argv[2]))))
"""


def _run_child(function: str, args: dict, timeout: float, what: str) -> dict:
    """``function(**args)`` of this file in a fresh Python process; its JSON result.

    Raises:
      RuntimeError: "{what} failed (exit code): stderr" if the child failed.
    """
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, os.path.abspath(__file__), json.dumps(args), function],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    if child.returncode != 0:
        raise RuntimeError(f"{what} failed ({child.returncode}): {child.stderr.strip()[-2000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def measure_latency(
    model: bytes | str, threads: int, xnnpack: bool = True, warmup: int = 5, runs: int = 30, timeout: float = 600
) -> dict:
    """Times ``model`` (bytes or a .tflite path) in a fresh process.

    Args:
      model: the flatbuffer or its path.
      threads: interpreter threads.
      xnnpack: apply LiteRT's default delegate (XNNPACK); False runs the builtin kernels.
      warmup: untimed invocations first (delegate set-up, caches).
      runs: timed invocations.

    Returns:
      ``{"threads", "xnnpack", "warmup", "runs", "median_ms", "p90_ms", "min_ms",
      "mean_ms", "peak_rss_mb" (of the process), "rss_increase_mb" (over the
      process before loading the model)}``.

    Raises:
      ValueError: threads, warmup or runs out of range.
      RuntimeError: the child failed (its stderr is in the message).
    """
    if threads < 1 or runs < 1 or warmup < 0:
        raise ValueError(f"need threads >= 1, runs >= 1, warmup >= 0; got {threads}, {runs}, {warmup}")
    with tempfile.TemporaryDirectory(prefix="deeplab-bench-") as folder:
        if isinstance(model, bytes):
            path = os.path.join(folder, "model.tflite")
            with open(path, "wb") as handle:
                handle.write(model)
        else:
            path = os.fspath(model)
        args = {"model_path": path, "threads": threads, "xnnpack": xnnpack, "warmup": warmup, "runs": runs}
        return _run_child("_worker", args, timeout, f"benchmark of {path}")


def benchmark_tflite(path: str, threads: Sequence[int] = (1, 2, 4), warmup: int = 5, runs: int = 30) -> dict:
    """Everything ``deeplab-bench tflite`` reports about one model.

    Returns:
      ``{"model", "size_bytes", "input", "output" (tensor contract), "op_histogram",
      "delegation" (XNNPACK: ops, delegated_ops, fraction, partitions, not_delegated),
      "gpu_delegate" (offline check: ops, supported_ops, unsupported, at_ends; see gpu_delegate.py),
      "runs": [measure_latency(...) for each thread count, with and without XNNPACK],
      "xnnpack_speedup": {threads: median without / median with}}``.

    Raises:
      FileNotFoundError: no such file; ValueError: not a model with one image input.
    """
    from deeplab_tf.artifacts.errors import ArgumentFileNotFoundError
    from deeplab_tf.artifacts.model_card import tensor_contract
    from deeplab_tf.export.gpu_delegate import gpu_delegate_report
    from deeplab_tf.export.inspect import delegation_report, op_histogram

    if not os.path.isfile(path):
        raise ArgumentFileNotFoundError(f"`path`={path} does not exist")
    with open(path, "rb") as handle:
        tflite_bytes = handle.read()
    contract = tensor_contract(tflite_bytes)
    delegation = delegation_report(tflite_bytes, num_threads=max(threads))
    delegation.pop("not_delegated_nodes")
    gpu = gpu_delegate_report(tflite_bytes)
    gpu.pop("unsupported_nodes")
    results = [
        measure_latency(path, count, xnnpack, warmup, runs) for count in threads for xnnpack in (True, False)
    ]
    median = {(r["threads"], r["xnnpack"]): r["median_ms"] for r in results}
    return {
        "model": os.path.abspath(path),
        "size_bytes": len(tflite_bytes),
        **contract,
        "op_histogram": dict(sorted(op_histogram(tflite_bytes).items())),
        "delegation": delegation,
        "gpu_delegate": gpu,
        "runs": results,
        "xnnpack_speedup": {str(count): median[count, False] / median[count, True] for count in threads},
    }


def format_benchmark(result: dict) -> str:
    """A human-readable table of ``benchmark_tflite``'s result."""
    delegation = result["delegation"]
    lines = [
        f"{result['model']}",
        f"  size {result['size_bytes'] / 1e6:.2f} MB; input {result['input']['dtype']} "
        f"{result['input']['height']}x{result['input']['width']}; output {result['output']['kind']} "
        f"{result['output']['dtype']} {result['output']['shape']}",
        f"  XNNPACK takes {delegation['delegated_ops']}/{delegation['ops']} ops ({delegation['fraction']:.1%}) in "
        f"{delegation['partitions']} partition(s); not delegated: {delegation['not_delegated'] or 'none'}",
        "  " + format_gpu_delegate(result["gpu_delegate"]),
        "  ops: " + ", ".join(f"{name} {count}" for name, count in result["op_histogram"].items()),
        f"  {'threads':>7} {'xnnpack':>7} {'median ms':>10} {'p90 ms':>8} {'peak RSS MB':>12} {'RSS +MB':>8}",
    ]
    for run in result["runs"]:
        lines.append(
            f"  {run['threads']:>7} {'yes' if run['xnnpack'] else 'no':>7} {run['median_ms']:>10.2f} "
            f"{run['p90_ms']:>8.2f} {run['peak_rss_mb']:>12.1f} {run['rss_increase_mb']:>8.1f}"
        )
    return "\n".join(lines)


def format_gpu_delegate(report: dict) -> str:
    """One line on ``gpu_delegate_report``: all supported, or what the CPU keeps and where."""
    if not report["unsupported"]:
        return f"GPU delegate: all {report['ops']} ops supported"
    where = "at the graph's ends" if report["at_ends"] else "inside the graph (several GPU partitions)"
    kept = "; ".join(f"{count}x {reason}" for reason, count in report["unsupported"].items())
    return f"GPU delegate: {report['supported_ops']}/{report['ops']} ops; on the CPU {where}: {kept}"
