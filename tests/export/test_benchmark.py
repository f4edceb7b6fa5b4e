"""deeplab-bench tflite: latency per thread count with and without XNNPACK, op
histogram, delegated fraction, size and the peak memory of a fresh process."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from test_model_card import exported

from deeplab_tf.export.benchmark import (
    _percentile,
    _side_by_side_worker,
    benchmark_tflite,
    format_gpu_delegate,
    format_side_by_side,
    measure_latency,
    side_by_side,
)

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
    # A float model with uint8 input (DEQUANTIZEd at scale 1): the GPU delegate would take it all.
    assert report["gpu_delegate"] == {
        "ops": delegation["ops"],
        "supported_ops": delegation["ops"],
        "unsupported": {},
        "at_ends": True,
    }
    assert delegation["fraction"] == 1.0  # XNNPACK too
    assert [(run["threads"], run["xnnpack"]) for run in report["runs"]] == [(1, True), (1, False), (2, True), (2, False)]
    assert all(run["median_ms"] <= run["p90_ms"] and run["peak_rss_mb"] > 0 for run in report["runs"])
    assert set(report["xnnpack_speedup"]) == {"1", "2"}


def test_side_by_side_times_files_in_turn_in_one_process(tmp_path):
    small, large = tmp_path / "small.tflite", tmp_path / "large.tflite"
    small.write_bytes(exported("int8_ptq", "mask", "uint8"))
    large.write_bytes(exported("none", "scores", "uint8"))
    results = side_by_side([str(small), str(large), str(small)], threads=1, warmup=1, rounds=15)
    assert [r["model"] for r in results] == [str(small), str(large), str(small)]
    assert [r["size_bytes"] for r in results] == [small.stat().st_size, large.stat().st_size, small.stat().st_size]
    assert all(r["rounds"] == 15 and 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] for r in results)
    assert results[0]["ratio_to_first"] == 1.0 and 0.5 < results[2]["ratio_to_first"] < 2.0
    table = format_side_by_side(results)
    assert "1 threads, 15 rounds" in table and table.count("small.tflite") == 2


def test_side_by_side_reverses_the_order_on_odd_rounds(monkeypatch):
    # A model that always runs after the same one (caches, clocks) would carry that
    # cost in every round; alternating the order spreads it over all of them.
    import ai_edge_litert.interpreter

    invoked = []

    class Recorder:
        def __init__(self, model_path, num_threads):
            self.name = model_path

        def allocate_tensors(self):
            pass

        def get_input_details(self):
            return []

        def invoke(self):
            invoked.append(self.name)

    monkeypatch.setattr(ai_edge_litert.interpreter, "Interpreter", Recorder)
    result = _side_by_side_worker(["a", "b", "c"], threads=1, warmup=0, rounds=3)
    assert invoked == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert [len(series) for series in result["times_ms"]] == [3, 3, 3]


def test_side_by_side_cli_json(tmp_path):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(exported())
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "deeplab_tf.cli.bench", "tflite", "--side_by_side", f"--model={path},{path}",
         "--threads=1,2", "--runs=3", "--warmup=1", "--json"],
        capture_output=True, text=True, env=env, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    tables = json.loads(result.stdout[result.stdout.index("[") :])
    assert [[(r["threads"], r["rounds"]) for r in table] for table in tables] == [[(1, 3)] * 2, [(2, 3)] * 2]


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
    with pytest.raises(FileNotFoundError, match="missing.tflite does not exist"):
        side_by_side([str(tmp_path / "missing.tflite")])
    with pytest.raises(ValueError, match="at least one"):
        side_by_side([])
    with pytest.raises(ValueError, match="rounds >= 1"):
        side_by_side([__file__], rounds=0)
    (tmp_path / "bad.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(RuntimeError, match="side-by-side timing failed"):
        side_by_side([str(tmp_path / "bad.tflite")], rounds=1)
