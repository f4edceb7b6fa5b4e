"""deeplab-bench tflite: latency per thread count with and without XNNPACK, op
histogram, delegated fraction, size and the peak memory of a fresh process."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from test_model_card import exported

from deeplab_tf.export.benchmark import _percentile, benchmark_tflite, format_gpu_delegate, measure_latency

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_percentile_is_nearest_rank():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 6.0, 7.0, 9.0, 8.0]
    assert _percentile(values, 0.9) == 9.0 and _percentile(values, 0.5) == 5.0 and _percentile([3.0], 0.9) == 3.0


def test_measure_latency_in_a_fresh_process():
    run = measure_latency(exported("int8_ptq", "mask", "uint8"), threads=1, xnnpack=True, warmup=1, runs=5)
    assert run["threads"] == 1 and run["xnnpack"] is True and run["runs"] == 5
    assert 0 < run["min_ms"] <= run["median_ms"] <= run["p90_ms"]
    # The child imports numpy and the interpreter only: far below this (TensorFlow) process.
    assert 0 <= run["rss_increase_mb"] < run["peak_rss_mb"] < 300


def test_bench_cli_json(tmp_path):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(exported())
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "deeplab_tf.cli.bench", "tflite", f"--model={path}", "--threads=1,2", "--runs=3",
         "--warmup=1", "--json"],
        capture_output=True, text=True, env=env, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["size_bytes"] == path.stat().st_size and report["model"] == str(path)
    assert report["input"]["dtype"] == "uint8" and report["output"]["kind"] == "scores"
    assert report["op_histogram"]["CONV_2D"] == 2
    delegation = report["delegation"]
    assert delegation["ops"] == sum(report["op_histogram"].values()) and 0 < delegation["fraction"] <= 1
    # A float model with uint8 input: the GPU delegate would leave only the input CAST to the CPU.
    assert report["gpu_delegate"] == {
        "ops": delegation["ops"],
        "supported_ops": delegation["ops"] - 1,
        "unsupported": {"CAST: UINT8 -> FLOAT32 is not among its casts": 1},
        "at_ends": True,
    }
    assert [(run["threads"], run["xnnpack"]) for run in report["runs"]] == [(1, True), (1, False), (2, True), (2, False)]
    assert all(run["median_ms"] <= run["p90_ms"] and run["peak_rss_mb"] > 0 for run in report["runs"])
    assert set(report["xnnpack_speedup"]) == {"1", "2"}


def test_format_gpu_delegate_names_what_stays_on_the_cpu():
    report = {"ops": 10, "supported_ops": 10, "unsupported": {}, "at_ends": True}
    assert format_gpu_delegate(report) == "GPU delegate: all 10 ops supported"
    report = {"ops": 10, "supported_ops": 8, "unsupported": {"ARG_MAX: why": 1, "CAST: why": 1}, "at_ends": False}
    line = format_gpu_delegate(report)
    assert line.startswith("GPU delegate: 8/10 ops; on the CPU inside the graph") and "1x ARG_MAX: why; 1x CAST" in line


def test_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        benchmark_tflite(str(tmp_path / "missing.tflite"))
    with pytest.raises(ValueError, match="need threads >= 1"):
        measure_latency(exported(), threads=0)
    with pytest.raises(RuntimeError, match="benchmark of .* failed"):
        measure_latency(b"not a flatbuffer", threads=1)
