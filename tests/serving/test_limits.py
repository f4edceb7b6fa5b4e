"""deeplab-serve under bad input and load: each bad request gets a 4xx JSON error naming the
problem and the next good request is answered; 500 requests at concurrency 16 without an
error or a memory climb; past the queue limit 503 + Retry-After; SIGTERM loses nothing."""

import base64
import concurrent.futures
import io
import json
import statistics
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image
from serving_helpers import Server, request, wait_until

SIZE = (65, 65)
LOAD_REQUESTS, LOAD_CONCURRENCY = 500, 16
# Server RSS after the load run against before it (allocator and metric growth, no leak per request).
MAX_RSS_GROWTH_KB = 64 * 1024


def pixels(size, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (*size, 3), dtype=np.uint8)


def encoded(image, fmt="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_with_size(width, height):
    """A valid PNG header claiming ``width`` x ``height`` over a few bytes of data: a decompression bomb."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


GOOD = encoded(Image.fromarray(pixels((40, 30))))
JPEG = encoded(Image.fromarray(pixels((120, 90), 1)), "JPEG", quality=90)
PALETTE = Image.fromarray(pixels((30, 40), 2)).convert("P", palette=Image.Palette.ADAPTIVE)
GREY16 = Image.fromarray((np.arange(30 * 40, dtype=np.uint16).reshape(30, 40) * 50).astype(np.uint16))
RGBA = Image.fromarray(np.dstack([pixels((30, 40), 3), np.full((30, 40), 128, np.uint8)]))
ONE = pixels(SIZE).tolist()

# (what, path, body, status, words the error names); body None: the model-size JSON built below.
BAD_SEGMENT = [
    ("empty body", b"", 400, "empty"),
    ("non-image bytes", b"hello, this is not an image at all", 400, "not a JPEG or PNG"),
    ("truncated JPEG", JPEG[: len(JPEG) // 2], 400, "cannot be decoded"),
    ("GIF", encoded(Image.fromarray(pixels((8, 8))), "GIF"), 400, "unsupported image format GIF"),
    ("decompression bomb", png_with_size(100_000, 100_000), 413, "more than the limit 1000000"),
    ("too many pixels", encoded(Image.new("L", (1001, 1000))), 413, "1001x1000"),
    ("body too large", b"\xff" * (2 << 20), 413, "more than the limit"),
]
BAD_PREDICT = [
    ("not JSON", b"{instances: [", 400, "not JSON"),
    ("a list body", b"[1, 2]", 400, "must be a JSON object"),
    ("neither instances nor inputs", b'{"foo": 1}', 400, "exactly one of"),
    ("wrong shape", json.dumps({"instances": [[[0, 0, 0]]]}).encode(), 400, "shape [-1, 65, 65, 3]"),
    ("ragged", json.dumps({"instances": [[[0, 0], [0]]]}).encode(), 400, "ragged"),
    ("wrong dtype", json.dumps({"instances": [(np.asarray(ONE) + 0.5).tolist()]}).encode(), 400, "uint8"),
    ("out of range", json.dumps({"instances": [(np.asarray(ONE) + 300).tolist()]}).encode(), 400, "0..255"),
    ("bad b64", b'{"instances": [{"b64": "***"}]}', 400, "not valid base64"),
    ("wrong input name", json.dumps({"inputs": {"pixels": [ONE]}}).encode(), 400, "'image'"),
    ("batch larger than the limit", json.dumps({"instances": [ONE] * 5}).encode(), 400, "batch limit 4"),
    ("unknown signature", json.dumps({"signature_name": "x", "instances": [ONE]}).encode(), 400, "signature_name"),
]


@pytest.mark.parametrize("what,body,status,words", BAD_SEGMENT, ids=[case[0] for case in BAD_SEGMENT])
def test_bad_image_is_a_named_4xx_and_the_next_request_is_answered(server, what, body, status, words):
    code, headers, answer = server.post("/v1/models/seg_tfl:segment", body)
    assert code == status and headers["Content-Type"].startswith("application/json"), answer[:200]
    assert words in json.loads(answer)["error"]
    assert server.post("/v1/models/seg_tfl:segment", GOOD)[0] == 200


@pytest.mark.parametrize("what,body,status,words", BAD_PREDICT, ids=[case[0] for case in BAD_PREDICT])
def test_bad_predict_body_is_a_named_4xx_and_the_next_request_is_answered(server, what, body, status, words):
    code, _, answer = server.post("/v1/models/seg_sm:predict", body)
    assert code == status and words in json.loads(answer)["error"], answer[:300]
    assert server.post_json("/v1/models/seg_sm:predict", {"instances": [ONE]})[0] == 200


def test_unknown_model_and_method_are_404(server):
    for path, words in [("/v1/models/nope:predict", "Latest(nope)"), ("/v1/models/seg_sm:classify", ":classify")]:
        code, _, answer = server.post(path, b"{}")
        assert code == 404 and words in json.loads(answer)["error"]
        assert server.post("/v1/models/seg_tfl:segment", GOOD)[0] == 200
    assert server.post("/v1/models/seg_tfl:segment?format=svg", GOOD)[0] == 400


@pytest.mark.parametrize(
    "image,fmt",
    [(PALETTE, "PNG"), (GREY16, "PNG"), (RGBA, "PNG"), (Image.fromarray(pixels((30, 40), 4)).convert("L"), "PNG")],
    ids=["palette", "16-bit grey", "alpha", "grey"],
)
def test_palette_16bit_alpha_and_grey_pngs_are_converted(server, image, fmt):
    code, _, answer = server.post("/v1/models/seg_tfl:segment", encoded(image, fmt))
    assert code == 200 and np.asarray(Image.open(io.BytesIO(answer))).shape == (30, 40)


def test_jpeg_and_b64_predict_are_answered(server):
    code, _, answer = server.post("/v1/models/seg_sm:segment?format=json", JPEG)
    assert code == 200 and (json.loads(answer)["height"], json.loads(answer)["width"]) == (120, 90)
    body = {"instances": [{"image": {"b64": base64.b64encode(JPEG).decode()}}]}
    code, _, answer = server.post_json("/v1/models/seg_sm:predict", body)
    assert code == 200 and np.asarray(json.loads(answer)["predictions"]).shape == (1, *SIZE, 6)


def timed_segment(server, body):
    start = time.perf_counter()
    code = server.post("/v1/models/seg_tfl:segment", body)[0]
    return code, time.perf_counter() - start


def test_load_500_requests_at_concurrency_16_without_errors_or_memory_climb(server):
    bodies = [encoded(Image.fromarray(pixels((48, 64), seed))) for seed in range(8)]
    assert server.post("/v1/models/seg_sm:predict", b"[]")[0] == 400
    for body in bodies:  # warm-up: first allocations, metric label sets
        assert server.post("/v1/models/seg_tfl:segment", body)[0] == 200
    before = server.rss_kb()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(LOAD_CONCURRENCY) as pool:
        results = list(pool.map(lambda i: timed_segment(server, bodies[i % len(bodies)]), range(LOAD_REQUESTS)))
    elapsed = time.perf_counter() - start
    after = server.rss_kb()
    codes = [code for code, _ in results]
    latencies = sorted(seconds for _, seconds in results)
    p50, p99 = statistics.median(latencies), latencies[int(0.99 * (len(latencies) - 1))]
    print(
        f"\n{LOAD_REQUESTS} requests at concurrency {LOAD_CONCURRENCY}: {LOAD_REQUESTS / elapsed:.1f} req/s, "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, RSS {before} -> {after} kB"
    )
    assert codes.count(200) == LOAD_REQUESTS, {code: codes.count(code) for code in set(codes)}
    assert after - before < MAX_RSS_GROWTH_KB
    metrics = server.get("/metrics")[2].decode()
    assert 'deeplab_serve_requests_total{api="segment",code="200",model="seg_tfl"}' in metrics
    assert 'deeplab_serve_requests_total{api="predict",code="400",model="seg_sm"}' in metrics
    batched = [
        line for line in metrics.splitlines() if line.startswith('deeplab_serve_batch_size_count{model="seg_tfl"}')
    ]
    assert batched and float(batched[0].split()[-1]) < LOAD_REQUESTS + 100  # concurrent requests shared runs
    assert "deeplab_serve_queue_depth" in metrics and "deeplab_serve_request_seconds_bucket" in metrics


@pytest.fixture
def slow_batches(models_dir):
    """A server whose batches wait 400 ms to fill, with room for 4 queued images."""
    started = Server(models_dir / "seg_tfl.tflite", "--batch_timeout_ms=400", "--max_queue=4", "--max_batch_size=8")
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait(30)


def test_past_the_queue_limit_503_with_retry_after_then_sigterm_drains(slow_batches):
    server = slow_batches
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: server.post("/v1/models/seg_tfl:segment", GOOD), range(10)))
    codes = [code for code, _, _ in answers]
    assert codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
    refused = next(answer for answer in answers if answer[0] == 503)
    assert refused[1]["Retry-After"] == "1" and "queue" in json.loads(refused[2])["error"]
    assert server.post("/v1/models/seg_tfl:segment", GOOD)[0] == 200

    # SIGTERM while requests are in flight: each of those is answered, later ones are refused
    # with a 503 or find the port closed (not lost), and the server exits 0.
    answers = []

    def post():
        try:
            answers.append(server.post("/v1/models/seg_tfl:segment", GOOD)[0])
        except OSError as error:  # connection refused: arrived after the listening socket closed
            answers.append(type(error).__name__)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: in_flight(server) >= 2, 10)
    at_signal = in_flight(server)
    assert server.terminate(timeout=60) == 0
    for thread in threads:
        thread.join(30)
    assert len(answers) == 4 and answers.count(200) >= at_signal, (at_signal, answers, "".join(server.stderr)[-1000:])
    assert set(answers) <= {200, 503, "URLError", "ConnectionRefusedError", "RemoteDisconnected"}, answers
    assert any("all requests answered" in line for line in server.stderr)


def in_flight(server):
    metrics = request(server.url + "/metrics")[2].decode()
    return float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("deeplab_serve_in_flight ")))
