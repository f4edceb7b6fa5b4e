"""Dynamic batching: concurrent requests grouped into one model run.

Each request's images wait in a queue; one worker takes the oldest, then keeps
taking queued requests until ``max_batch_size`` images or ``batch_timeout_ms``
after the first, and runs them as one batch on a single inference thread (the
model is never run concurrently with itself). With batching off, each request
runs alone, in arrival order. Past ``max_queue`` queued images a request is
refused at once (``QueueFull``: HTTP 503 with Retry-After) instead of piling up.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import time
from collections.abc import Callable

import numpy as np


class QueueFull(RuntimeError):
    """The queue holds ``max_queue`` images: try again later."""


@dataclasses.dataclass
class _Pending:
    images: np.ndarray
    future: asyncio.Future


class Batcher:
    """Runs ``run([B, ...]) -> [B, ...]`` on batches gathered from concurrent ``submit`` calls.

    Args:
      run: the model (``Backend.run``).
      max_batch_size: most images per run (and per request).
      batch_timeout_ms: how long the first request waits for others to join.
      max_queue: most images waiting; more are refused with ``QueueFull``.
      enabled: False runs each request alone.
      on_batch: called with each batch size (metrics).
      on_queue: called with the queue depth in images whenever it changes (metrics).
    """

    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
        max_batch_size: int = 8,
        batch_timeout_ms: float = 5.0,
        max_queue: int = 64,
        enabled: bool = True,
        on_batch: Callable[[int], None] = lambda size: None,
        on_queue: Callable[[int], None] = lambda depth: None,
    ):
        if max_batch_size < 1 or max_queue < 1 or batch_timeout_ms < 0:
            raise ValueError(
                f"max_batch_size and max_queue must be >= 1 and batch_timeout_ms >= 0, got "
                f"{max_batch_size}, {max_queue}, {batch_timeout_ms}"
            )
        self.run, self.max_batch_size, self.timeout = run, max_batch_size, batch_timeout_ms / 1000
        self.max_queue, self.enabled = max_queue, enabled
        self.on_batch, self.on_queue = on_batch, on_queue
        self._waiting: collections.deque[_Pending] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._queued = 0
        self._worker: asyncio.Task | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="inference")

    @property
    def depth(self) -> int:
        """Images waiting (not yet running)."""
        return self._queued

    def start(self) -> None:
        """Starts the worker on the running event loop."""
        self._arrived = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Stops the worker (after the caller has drained the requests) and the inference thread."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, images: np.ndarray) -> np.ndarray:
        """The model's output for ``images`` [n, ...], n <= max_batch_size.

        Raises:
          QueueFull: the queue is full; ValueError: more images than max_batch_size.
        """
        if len(images) > self.max_batch_size:
            raise ValueError(f"{len(images)} instances is more than the batch limit {self.max_batch_size}")
        if self._queued + len(images) > self.max_queue:
            raise QueueFull(f"the queue holds {self._queued} images (limit {self.max_queue})")
        future = asyncio.get_running_loop().create_future()
        self._queued += len(images)
        self.on_queue(self._queued)
        self._waiting.append(_Pending(images, future))
        self._arrived.set()
        return await future

    async def _take(self) -> list[_Pending]:
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        batch = [self._waiting.popleft()]
        count = len(batch[0].images)
        deadline = time.monotonic() + self.timeout
        while self.enabled and count < self.max_batch_size:
            if self._waiting:
                if count + len(self._waiting[0].images) > self.max_batch_size:
                    break  # the next request starts the next batch
                batch.append(self._waiting.popleft())
                count += len(batch[-1].images)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._take()
            images = np.concatenate([pending.images for pending in batch])
            self._queued -= len(images)
            self.on_queue(self._queued)
            self.on_batch(len(images))
            try:
                outputs = await loop.run_in_executor(self._executor, self.run, images)
            except Exception as error:  # noqa: BLE001  (handed to every request of the batch)
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                continue
            start = 0
            for pending in batch:
                if not pending.future.done():  # a cancelled request (client gone) is skipped
                    pending.future.set_result(outputs[start : start + len(pending.images)])
                start += len(pending.images)
