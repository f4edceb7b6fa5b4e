"""Dynamic batching on its own: concurrent submissions share runs up to max_batch_size,
a lone request waits at most batch_timeout_ms, batching off runs each alone, a full
queue refuses at once, and a failing run fails only its own requests."""

import asyncio
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from serving_helpers import REPO

from deeplab_tf.serving.batching import Batcher, QueueFull
from deeplab_tf.serving.benchmark import format_serve, load, png_bodies


def record(sizes, fail=False):
    def run(images):
        sizes.append(len(images))
        if fail:
            raise RuntimeError("model failed")
        return images * 2

    return run


def gather(batcher, requests):
    async def main():
        batcher.start()
        try:
            return await asyncio.wait_for(
                asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True), 10
            )
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_concurrent_requests_share_runs_up_to_the_batch_size():
    sizes = []
    requests = [np.full((n, 2), i) for i, n in enumerate([1, 2, 1, 3, 1, 1])]
    results = gather(Batcher(record(sizes), max_batch_size=4, batch_timeout_ms=200), requests)
    for request, result in zip(requests, results, strict=True):
        assert np.array_equal(result, request * 2)
    assert sizes == [4, 4, 1]  # 1+2+1, then 3+1 (the 3 does not fit the first), then the last 1 alone


def test_batching_off_runs_each_request_alone_and_a_lone_request_waits_the_timeout_only():
    sizes = []
    gather(Batcher(record(sizes), max_batch_size=8, batch_timeout_ms=200, enabled=False), [np.ones((1, 2))] * 3)
    assert sizes == [1, 1, 1]
    start = time.perf_counter()
    gather(Batcher(record(sizes), max_batch_size=8, batch_timeout_ms=50), [np.ones((1, 2))])
    assert 0.04 < time.perf_counter() - start < 2.0


def test_full_queue_refuses_and_failures_reach_their_requests():
    results = gather(Batcher(record([]), max_batch_size=2, batch_timeout_ms=100, max_queue=2), [np.ones((1, 2))] * 3)
    assert isinstance(results[2], QueueFull) and "limit 2" in str(results[2])
    assert all(isinstance(r, np.ndarray) for r in results[:2])
    results = gather(Batcher(record([], fail=True), max_batch_size=2), [np.ones((1, 2))] * 2)
    assert all(isinstance(r, RuntimeError) and "model failed" in str(r) for r in results)
    (too_many,) = gather(Batcher(record([]), max_batch_size=2), [np.ones((3, 2))])
    assert isinstance(too_many, ValueError) and "batch limit 2" in str(too_many)
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(record([]), max_batch_size=0)


def test_bench_load_and_table_on_the_running_server(server):
    rows = [
        {"batching": batching, "model": "seg_tfl", "input": [65, 65],
         **load(server, "/v1/models/seg_tfl:segment", png_bodies((65, 65), 2), 12, concurrency)}
        for batching in (False, True) for concurrency in (1, 4)
    ]  # fmt: skip
    assert all(row["errors"] == {} and row["throughput_rps"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0 for row in rows)
    table = format_serve(rows).splitlines()
    assert len(table) == 5 and table[1].split()[:3] == ["seg_tfl", "off", "1"] and table[-1].split()[1:3] == ["on", "4"]
    bad = load(server, "/v1/models/nope:segment", [b"x"], 3, 2)
    assert bad["errors"] == {"404": 3}


@pytest.mark.heavy
def test_bench_serve_cli_prints_both_configurations(models_dir):
    result = subprocess.run(
        [sys.executable, "-m", "deeplab_tf.cli.bench", "serve", f"--model={models_dir / 'seg_tfl.tflite'}",
         "--requests=8", "--concurrency=1,2", "--json"],
        capture_output=True, text=True, timeout=600, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert [(r["batching"], r["concurrency"]) for r in rows] == [(False, 1), (False, 2), (True, 1), (True, 2)]
    assert all(r["errors"] == {} for r in rows)


@pytest.mark.parametrize("path", ["seg_sm", "seg_tfl.tflite"])
def test_a_batch_gives_what_each_image_alone_gives(models_dir, path):
    from deeplab_tf.serving.backends import load_models

    (model,) = load_models(str(models_dir / path)).values()
    model.warm_up(4)  # a .tflite prepares interpreters for 2 and 4 images
    images = np.random.RandomState(7).randint(0, 256, (7, *model.size, 3)).astype(np.uint8)
    alone = np.concatenate([model.run(images[i : i + 1]) for i in range(7)])
    assert np.abs(model.run(images) - alone).max() < 1e-5  # a .tflite: 4 + 2 + 1
    assert model.kind != "tflite" or (model._batched[2] is not None and model._batched[4] is not None)
