"""What the REST and gRPC front ends share: the models, their batchers, the limits,
the metrics, and the checks every request passes before it reaches a model."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np
import prometheus_client as prom

from deeplab_tf.evaluation.tflite import mask_at, model_input
from deeplab_tf.serving.backends import Backend
from deeplab_tf.serving.batching import Batcher
from deeplab_tf.serving.images import BadInput, decode_image

MB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Limits:
    """Request bounds.

    Attributes:
      max_body_bytes: largest request body (HTTP 413 past it).
      max_pixels: largest image, read from its header before decoding (413 past it).
      max_batch_size: most instances per request, and per model run.
      batch_timeout_ms: how long a batch waits to fill.
      max_queue: most images waiting per model (503 + Retry-After past it).
      batching: False runs each request alone.
    """

    max_body_bytes: int = 8 * MB
    max_pixels: int = 40_000_000
    max_batch_size: int = 8
    batch_timeout_ms: float = 5.0
    max_queue: int = 64
    batching: bool = True


class Metrics:
    """Prometheus metrics in a registry of their own (``/metrics``)."""

    def __init__(self):
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter(
            "deeplab_serve_requests", "Requests answered, by model, API and status code.",
            ["model", "api", "code"], registry=self.registry,
        )  # fmt: skip
        self.latency = prom.Histogram(
            "deeplab_serve_request_seconds", "Request latency in seconds, by model and API.", ["model", "api"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry,
        )  # fmt: skip
        self.batch_size = prom.Histogram(
            "deeplab_serve_batch_size", "Images per model run.", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry,
        )  # fmt: skip
        self.queue_depth = prom.Gauge(
            "deeplab_serve_queue_depth", "Images waiting for a model run.", ["model"], registry=self.registry
        )
        self.in_flight = prom.Gauge("deeplab_serve_in_flight", "Requests being answered.", registry=self.registry)

    def observe(self, model: str, api: str, code: int | str, seconds: float) -> None:
        self.requests.labels(model, api, str(code)).inc()
        self.latency.labels(model, api).observe(seconds)


class Service:
    """The served models and everything a request goes through.

    Attributes:
      models: by name; batchers: one per model; ready: False until started and
      again once draining; in_flight: requests being answered.
    """

    def __init__(self, models: dict[str, Backend], limits: Limits = Limits()):
        self.models, self.limits, self.metrics = models, limits, Metrics()
        self.batchers = {
            name: Batcher(
                model.run,
                limits.max_batch_size,
                limits.batch_timeout_ms,
                limits.max_queue,
                limits.batching,
                on_batch=self.metrics.batch_size.labels(name).observe,
                on_queue=self.metrics.queue_depth.labels(name).set,
            )
            for name, model in models.items()
        }
        self.ready = False
        self.in_flight = 0
        self._idle: asyncio.Event | None = None

    def start(self) -> None:
        """Warms the models up and starts the batchers (on the running loop)."""
        for model in self.models.values():
            model.warm_up(self.limits.max_batch_size if self.limits.batching else 1)
        for batcher in self.batchers.values():
            batcher.start()
        self._idle = asyncio.Event()
        self._idle.set()
        self.ready = True

    async def drain(self, timeout: float) -> bool:
        """Stops taking requests and waits (at most ``timeout`` s) for those in flight; True if none is left."""
        self.ready = False
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()

    def begin(self) -> float:
        """Counts a request in flight; returns its start time."""
        self.in_flight += 1
        self.metrics.in_flight.set(self.in_flight)
        self._idle.clear()
        return time.perf_counter()

    def end(self, model: str, api: str, code: int | str, start: float) -> None:
        self.in_flight -= 1
        self.metrics.in_flight.set(self.in_flight)
        self.metrics.observe(model, api, code, time.perf_counter() - start)
        if self.in_flight == 0:
            self._idle.set()

    def model(self, name: str, version: str | int | None = None) -> Backend:
        """The model ``name`` (at ``version`` if given).

        Raises:
          BadInput (404): no such model or version.
        """
        model = self.models.get(name)
        if model is None:
            raise BadInput(
                f"Servable not found for request: Latest({name}); served models: {', '.join(sorted(self.models))}", 404
            )
        if version is not None and str(version) != str(model.version):
            raise BadInput(
                f"Servable not found for request: Specific({name}, {version}); version {model.version} is served", 404
            )
        return model

    def check_instances(self, model: Backend, array: np.ndarray) -> np.ndarray:
        """``array`` as a batch for ``model``: its shape [n, H, W, 3], n <= max_batch_size,
        and values of its dtype (uint8: integers 0..255).

        Raises:
          BadInput: naming the wrong shape, dtype or batch size.
        """
        expected = [-1, *model.input.shape[1:]]
        if array.dtype == object or array.ndim != 4 or list(array.shape[1:]) != expected[1:]:
            shape = "ragged" if array.dtype == object else list(array.shape)
            raise BadInput(f"input {model.input.name} must have shape {expected}, got {shape}")
        if not len(array):
            raise BadInput(f"input {model.input.name} holds no instances")
        if len(array) > self.limits.max_batch_size:
            raise BadInput(f"{len(array)} instances is more than the batch limit {self.limits.max_batch_size}")
        if model.input.dtype == "uint8":
            if array.dtype.kind not in "iu" and not (array.dtype.kind == "f" and np.all(array == np.round(array))):
                raise BadInput(
                    f"input {model.input.name} takes uint8 pixels (integers 0..255), got {array.dtype} values"
                )
            if array.size and (array.min() < 0 or array.max() > 255):
                raise BadInput(f"input {model.input.name} takes uint8 pixels 0..255, got {array.min()}..{array.max()}")
        elif array.dtype.kind not in "iuf":
            raise BadInput(f"input {model.input.name} takes float32 numbers, got {array.dtype} values")
        return array.astype(model.input.dtype)

    async def predict(self, model: Backend, array: np.ndarray) -> np.ndarray:
        """The model's output for a checked batch (``check_instances``), through its batcher."""
        return await self.batchers[model.name].submit(array)

    def image_instance(self, model: Backend, data: bytes) -> np.ndarray:
        """Encoded image bytes -> one model input (stretched to the model size)."""
        return _model_input(model, decode_image(data, self.limits.max_pixels))

    async def segment(self, model: Backend, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(RGB image, uint8 class ids at its size) of encoded image bytes."""
        image = await asyncio.to_thread(decode_image, data, self.limits.max_pixels)
        pixels = await asyncio.to_thread(_model_input, model, image)
        output = await self.predict(model, pixels[None])
        mask = await asyncio.to_thread(mask_at, output[0], image.shape[:2], model.quantization)
        return image, mask


def _model_input(model: Backend, image: np.ndarray) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> one input of ``model`` (``evaluation.tflite.model_input``).

    Raises:
      BadInput: a float32-input model whose normalization is unknown (no model card).
    """
    if np.dtype(model.input.dtype) != np.uint8 and model.mean is None:
        raise BadInput("this model takes normalized float32 input and has no model card naming its normalization")
    return model_input(image, model.size, model.input.dtype, model.mean, model.std)
