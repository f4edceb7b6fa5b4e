"""deeplab-bench serve: a ``deeplab-serve`` subprocess under concurrent load.

Two servers (batching off and on) run on free ports of 127.0.0.1; every served
model is loaded with ``:segment`` requests of one image at its input size, at
each concurrency (client threads), the two servers in turn: throughput and
p50/p99 latency. Client and server share the machine's cores, so the figures
are for comparing configurations in one run, not capacity planning.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np

from deeplab_tf.data.image_files import encode_rgb_png

START_TIMEOUT_S = 180
REQUEST_TIMEOUT_S = 60


def http_request(url: str, data: bytes | None = None, method: str | None = None, headers: dict | None = None,
                 timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, dict, bytes]:  # fmt: skip
    """(status, headers, body) of one HTTP request; error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class ServerProcess:
    """``deeplab-serve --model=MODEL FLAGS...`` in a subprocess on free ports of 127.0.0.1.

    Attributes:
      url: ``http://127.0.0.1:PORT``; grpc: ``127.0.0.1:PORT``; models: served names;
      stderr: the server's stderr lines so far.

    Raises:
      RuntimeError: the server did not print its ports within ``START_TIMEOUT_S``.
    """

    def __init__(self, model: str, *flags: str, env: dict | None = None):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
        command = [
            sys.executable,
            "-m",
            "deeplab_tf.cli.serve",
            f"--model={model}",
            "--port=0",
            "--grpc_port=0",
            *flags,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()
        self.stderr: list[str] = []
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()
        try:
            ports = json.loads(lines.get(timeout=START_TIMEOUT_S))
        except (queue.Empty, json.JSONDecodeError):
            self.process.kill()
            self.process.wait(30)
            raise RuntimeError(f"deeplab-serve did not start: {''.join(self.stderr)[-2000:]}") from None
        self.url = f"http://127.0.0.1:{ports['rest_port']}"
        self.grpc = f"127.0.0.1:{ports['grpc_port']}"
        self.models = ports["models"]

    def rss_kb(self) -> int:
        """The server's resident memory now."""
        with open(f"/proc/{self.process.pid}/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))

    def get(self, path: str) -> tuple[int, dict, bytes]:
        return http_request(self.url + path)

    def post(self, path: str, data: bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return http_request(self.url + path, data, "POST", headers)

    def post_json(self, path: str, body) -> tuple[int, dict, bytes]:
        return self.post(path, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code (killed if it does not exit within ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
            raise


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _timed_posts(server: ServerProcess, path: str, bodies: list[bytes], requests: int, concurrency: int):
    """[(status, seconds)] of ``requests`` POSTs from ``concurrency`` threads, and the wall time."""

    def one(i):
        start = time.perf_counter()
        status = server.post(path, bodies[i % len(bodies)])[0]
        return status, time.perf_counter() - start

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    return results, time.perf_counter() - start


def _figures(results: list[tuple[int, float]], elapsed: float, concurrency: int) -> dict:
    latencies = [seconds for _, seconds in results]
    codes = [status for status, _ in results]
    return {
        "requests": len(results),
        "concurrency": concurrency,
        "errors": {str(code): codes.count(code) for code in sorted(set(codes)) if code != 200},
        "throughput_rps": round(len(results) / elapsed, 2),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
    }


def load(server: ServerProcess, path: str, bodies: list[bytes], requests: int, concurrency: int) -> dict:
    """``requests`` POSTs of ``bodies`` (in turn) to ``path`` from ``concurrency`` threads.

    Returns:
      ``{"requests", "concurrency", "errors": {status: count}, "throughput_rps", "p50_ms", "p99_ms"}``.
    """
    return _figures(*_timed_posts(server, path, bodies, requests, concurrency), concurrency)


def png_bodies(size: tuple[int, int], count: int = 8) -> list[bytes]:
    """``count`` PNGs of random pixels at ``size`` (height, width)."""
    rng = np.random.default_rng(0)
    return [encode_rgb_png(rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for _ in range(count)]


def bench_serve(
    model: str,
    concurrency: tuple[int, ...] = (1, 4, 16),
    requests: int = 200,
    max_batch_size: int = 16,
    batch_timeout_ms: float = 5.0,
    threads: int = 1,
    rounds: int = 4,
) -> list[dict]:
    """Throughput and latency of every model of ``model`` served with batching off and on.

    Both servers run at once and are loaded in turn, ``rounds`` rounds of
    ``requests / rounds`` requests each (order reversed every other round), so
    that a shared machine's drifting load falls on both alike.

    Returns:
      one row per (batching, model, concurrency): ``load``'s figures over all
      rounds plus ``{"batching", "model", "input"}``.
    """
    common = [f"--max_batch_size={max_batch_size}", f"--batch_timeout_ms={batch_timeout_ms}", f"--threads={threads}",
              f"--max_queue={4 * max(concurrency)}", "--grpc_port=-1"]  # fmt: skip
    servers = {}
    try:
        for batching in (False, True):
            servers[batching] = ServerProcess(model, *common, "--batching" if batching else "--nobatching")
        rows = []
        for name in servers[False].models:
            signature = json.loads(servers[False].get(f"/v1/models/{name}/metadata")[2])["metadata"]["signature_def"]
            (tensor,) = signature["signature_def"]["serving_default"]["inputs"].values()
            size = tuple(int(d["size"]) for d in tensor["tensor_shape"]["dim"][1:3])
            bodies, path = png_bodies(size), f"/v1/models/{name}:segment"
            for server in servers.values():  # warm-up: batch sizes, allocations
                load(server, path, bodies, 2 * max(concurrency), max(concurrency))
            for count in concurrency:
                results = {False: ([], 0.0), True: ([], 0.0)}
                for round_index in range(rounds):
                    for batching in (False, True) if round_index % 2 == 0 else (True, False):
                        done, elapsed = _timed_posts(servers[batching], path, bodies, max(1, requests // rounds), count)
                        results[batching] = (results[batching][0] + done, results[batching][1] + elapsed)
                for batching in (False, True):
                    rows.append(
                        {
                            "batching": batching,
                            "model": name,
                            "input": list(size),
                            **_figures(*results[batching], count),
                        }
                    )
    finally:
        for server in servers.values():
            server.terminate()
    return sorted(rows, key=lambda row: (row["batching"], row["model"], row["concurrency"]))


def format_serve(rows: list[dict]) -> str:
    """A table of ``bench_serve`` rows, with each batching-on throughput relative to off."""
    off = {(r["model"], r["concurrency"]): r["throughput_rps"] for r in rows if not r["batching"]}
    lines = [
        f"{'model':24s} {'batching':8s} {'conc':>4s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'vs off':>7s}  errors"
    ]
    for r in rows:
        ratio = r["throughput_rps"] / off[(r["model"], r["concurrency"])] if r["batching"] else 1.0
        lines.append(
            f"{r['model'][:24]:24s} {'on' if r['batching'] else 'off':8s} {r['concurrency']:4d} {r['throughput_rps']:8.1f} "
            f"{r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {ratio:6.2f}x  {r['errors'] or '-'}"
        )
    return "\n".join(lines)
