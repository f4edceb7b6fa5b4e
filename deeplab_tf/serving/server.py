"""Both front ends on one event loop, and the SIGTERM drain.

On SIGTERM (or SIGINT) the server stops taking requests (readiness turns 503,
new API requests get 503), waits for those in flight (at most ``drain_s``),
then closes its sockets and returns, so ``deeplab-serve`` exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from aiohttp import web

from deeplab_tf.serving.grpc_service import make_grpc_server
from deeplab_tf.serving.rest import make_app
from deeplab_tf.serving.service import Service


async def serve(service: Service, host: str, port: int, grpc_port: int | None, drain_s: float = 30.0) -> None:
    """Serves until SIGTERM/SIGINT, then drains. Port 0 binds a free port; the bound
    ports are printed as one JSON line ``{"rest_port", "grpc_port"}`` once ready."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    service.start()
    runner = web.AppRunner(make_app(service), access_log=None, shutdown_timeout=drain_s)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    rest_port = runner.addresses[0][1]
    grpc_server = None
    bound_grpc = None
    if grpc_port is not None:
        grpc_server, bound_grpc = make_grpc_server(service, host, grpc_port)
        await grpc_server.start()
    print(json.dumps({"rest_port": rest_port, "grpc_port": bound_grpc, "models": sorted(service.models)}), flush=True)
    await stop.wait()
    print("deeplab-serve: draining", file=sys.stderr, flush=True)
    drained = await service.drain(drain_s)
    if grpc_server is not None:
        await grpc_server.stop(grace=1.0)
    await runner.cleanup()
    await service.stop()
    print(
        f"deeplab-serve: stopped ({'all requests answered' if drained else 'drain timed out'})",
        file=sys.stderr,
        flush=True,
    )
