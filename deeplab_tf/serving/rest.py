"""TF Serving's REST API on aiohttp, plus ``:segment``, health and metrics.

    GET  /v1/models/NAME[/versions/V]            status   {"model_version_status": [...]}
    GET  /v1/models/NAME[/versions/V]/metadata   {"model_spec", "metadata": {"signature_def": ...}}
    POST /v1/models/NAME[/versions/V]:predict    {"instances": [...]} -> {"predictions": [...]}
                                                 {"inputs": ...}      -> {"outputs": ...}
    POST /v1/models/NAME:segment[?format=png|json|overlay]   a JPEG/PNG body or multipart upload
    GET  /healthz (alive), /readyz (models loaded, not draining), /metrics (Prometheus)

An instance is the input tensor as nested lists, ``{"b64": "<JPEG/PNG bytes>"}``
(decoded and stretched to the model size), or ``{"image": either}``. Errors are
``{"error": "..."}`` with a 4xx/5xx status, as TF Serving's.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np
import prometheus_client as prom
from aiohttp import web
from google.protobuf import json_format

from deeplab_tf.data.image_files import encode_rgb_png
from deeplab_tf.evaluation.report import overlay
from deeplab_tf.serving.backends import SIGNATURE, Backend, signature_def
from deeplab_tf.serving.batching import QueueFull
from deeplab_tf.serving.images import BadInput
from deeplab_tf.serving.service import Service

RETRY_AFTER_S = 1
SEGMENT_FORMATS = ("png", "json", "overlay")


def error_response(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def version_status(model: Backend, state: str = "AVAILABLE") -> dict:
    """TF Serving's GetModelStatus as JSON."""
    return {
        "model_version_status": [
            {"version": str(model.version), "state": state, "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def metadata(model: Backend) -> dict:
    """TF Serving's GetModelMetadata as JSON: the SignatureDef printed as protobuf JSON."""
    signature = json_format.MessageToDict(
        signature_def(model), preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
    }


def _instance(service: Service, model: Backend, value, where: str) -> np.ndarray:
    if isinstance(value, dict) and set(value) == {model.input.name}:
        value = value[model.input.name]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise BadInput(
                f'{where}: an object instance is {{"b64": "..."}} or {{"{model.input.name}": ...}}, got keys {sorted(value)}'
            )
        try:
            data = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(f"{where}: b64 is not valid base64") from None
        return service.image_instance(model, data)
    try:
        return np.asarray(value)
    except ValueError:
        raise BadInput(f"{where}: a ragged nested list (rows of different lengths)") from None


def parse_predict(service: Service, model: Backend, body) -> tuple[np.ndarray, str]:
    """A predict body -> (checked batch, "predictions" or "outputs").

    Raises:
      BadInput: naming what is wrong with the body.
    """
    if not isinstance(body, dict):
        raise BadInput(f'the body must be a JSON object with "instances" or "inputs", got {type(body).__name__}')
    signature = body.get("signature_name", SIGNATURE) or SIGNATURE
    if signature != SIGNATURE:
        raise BadInput(f"signature_name {signature!r} not found: the model has {SIGNATURE!r}")
    if ("instances" in body) == ("inputs" in body):
        raise BadInput('the body needs exactly one of "instances" (row format) or "inputs" (columnar format)')
    key = "instances" if "instances" in body else "inputs"
    values = body[key]
    if key == "inputs" and isinstance(values, dict):
        if set(values) != {model.input.name}:
            raise BadInput(f"inputs names {sorted(values)}, the model's input is {model.input.name!r}")
        values = values[model.input.name]
    if not isinstance(values, list):
        raise BadInput(f"{key} must be a list of instances, got {type(values).__name__}")
    if len(values) > service.limits.max_batch_size:
        raise BadInput(f"{len(values)} instances is more than the batch limit {service.limits.max_batch_size}")
    arrays = [_instance(service, model, value, f"{key}[{i}]") for i, value in enumerate(values)]
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise BadInput(f"{key}: instances of different shapes {sorted(map(list, shapes))}")
    batch = np.stack(arrays) if arrays else np.zeros((0, *model.input.shape[1:]))
    return service.check_instances(model, batch), "predictions" if key == "instances" else "outputs"


def _target(request: web.Request) -> tuple[str, str | None, str | None]:
    """(name, version or None, verb or None) of /v1/models/NAME[/versions/V][:VERB]."""
    name, version = request.match_info.get("name", ""), request.match_info.get("version")
    tail = version if version is not None else name
    head, _, verb = tail.partition(":")
    if version is not None:
        return name, head, verb or None
    return head, None, verb or None


async def _read_body(service: Service, request: web.Request) -> bytes:
    limit = service.limits.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BadInput(f"the body has {request.content_length} bytes, more than the limit {limit}", 413)
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        part = await reader.next()
        if part is None:
            raise BadInput("the multipart upload holds no part")
        return await part.read(decode=False)
    return await request.read()


def make_app(service: Service) -> web.Application:
    """The aiohttp application answering ``service``'s models."""

    @web.middleware
    async def account(request: web.Request, handler):
        if not request.path.startswith("/v1/"):
            return await handler(request)  # health and metrics: not requests to count or drain
        name, _, verb = _target(request) if request.path.startswith("/v1/models/") else ("", None, None)
        api = verb or ("metadata" if request.path.endswith("/metadata") else "status")
        if not service.ready:
            return error_response(503, "the server is draining or starting", {"Retry-After": str(RETRY_AFTER_S)})
        start = service.begin()
        status = 500
        try:
            try:
                response = await handler(request)
            except BadInput as error:
                response = error_response(error.status, str(error))
            except QueueFull as error:
                response = error_response(503, f"overloaded: {error}", {"Retry-After": str(RETRY_AFTER_S)})
            except web.HTTPException as error:
                if error.status < 400:
                    raise
                response = error_response(error.status, error.text or error.reason)
            status = response.status
            return response
        finally:
            service.end(name if name in service.models else "", api, status, start)

    async def status(request):
        name, version, verb = _target(request)
        if verb:
            raise BadInput(f"GET takes no :{verb}; POST /v1/models/{name}:{verb}", 405)
        return web.json_response(version_status(service.model(name, version)))

    async def model_metadata(request):
        name, version, _ = _target(request)
        return web.json_response(metadata(service.model(name, version)))

    async def post(request):
        name, version, verb = _target(request)
        model = service.model(name, version)
        if verb == "segment":
            return await segment(request, model)
        if verb not in ("predict",):
            raise BadInput(f"unknown method :{verb}; this server answers :predict and :segment", 404)
        data = await _read_body(service, request)
        if not data:
            raise BadInput('empty body: send a JSON object with "instances" or "inputs"')
        try:
            body = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BadInput(f"the body is not JSON: {error}") from None
        batch, key = parse_predict(service, model, body)
        outputs = await service.predict(model, batch)
        return web.json_response({key: outputs.tolist()})

    async def segment(request, model):
        fmt = request.query.get("format", "png")
        if fmt not in SEGMENT_FORMATS:
            raise BadInput(f"format={fmt} is not one of {', '.join(SEGMENT_FORMATS)}")
        image, mask = await service.segment(model, await _read_body(service, request))
        if fmt == "json":
            ids, counts = np.unique(mask, return_counts=True)
            classes = [
                {"id": int(i), "name": model.class_names[i] if i < len(model.class_names) else f"class_{i}",
                 "fraction": round(float(c) / mask.size, 6)}
                for i, c in zip(ids, counts, strict=True)
            ]  # fmt: skip
            return web.json_response(
                {"model": model.name, "height": mask.shape[0], "width": mask.shape[1], "classes": classes}
            )
        if fmt == "overlay":
            return web.Response(
                body=encode_rgb_png(overlay(image, mask, model.colors, 0.5, model.class_names)), content_type="image/png"
            )
        return web.Response(body=encode_rgb_png(mask), content_type="image/png")

    async def healthz(request):
        return web.json_response({"status": "alive"})

    async def readyz(request):
        if not service.ready:
            return web.json_response({"status": "not ready"}, status=503)
        return web.json_response({"status": "ready", "models": sorted(service.models)})

    async def metrics(request):
        return web.Response(
            body=prom.generate_latest(service.metrics.registry), headers={"Content-Type": prom.CONTENT_TYPE_LATEST}
        )

    # The body limit is enforced by _read_body (with a JSON error), aiohttp's own a little above it.
    app = web.Application(middlewares=[account], client_max_size=service.limits.max_body_bytes + 1024)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/models/{name}/versions/{version}/metadata", model_metadata)
    app.router.add_get("/v1/models/{name}/metadata", model_metadata)
    app.router.add_get("/v1/models/{name}/versions/{version}", status)
    app.router.add_get("/v1/models/{name}", status)
    app.router.add_post("/v1/models/{name}/versions/{version}", post)
    app.router.add_post("/v1/models/{name}", post)
    return app
