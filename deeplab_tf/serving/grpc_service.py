"""TF Serving's gRPC API (protos from the ``tensorflow-serving-api`` package):
``PredictionService.Predict`` and ``GetModelMetadata`` (signature_def) and
``ModelService.GetModelStatus`` over the same
models, batchers and limits as the REST API (one asyncio event loop)."""

from __future__ import annotations

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from deeplab_tf.serving.backends import SIGNATURE, signature_def
from deeplab_tf.serving.batching import QueueFull
from deeplab_tf.serving.images import BadInput
from deeplab_tf.serving.service import Service

CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND, 413: grpc.StatusCode.RESOURCE_EXHAUSTED}


class _Base:
    def __init__(self, service: Service):
        self.service = service

    async def _answer(self, request, context, api: str, answer):
        service = self.service
        name = request.model_spec.name
        if not service.ready:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is draining or starting")
        start = service.begin()
        code = "OK"
        try:
            return await answer()
        except BadInput as error:
            code = CODES.get(error.status, grpc.StatusCode.INVALID_ARGUMENT)
            message = str(error)
        except QueueFull as error:
            code, message = grpc.StatusCode.UNAVAILABLE, f"overloaded: {error}"
        finally:
            service.end(name if name in service.models else "", api, code if code == "OK" else code.name, start)
        await context.abort(code, message)


class PredictionService(_Base, prediction_service_pb2_grpc.PredictionServiceServicer):
    async def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:  # noqa: N802
        async def answer():
            spec = request.model_spec
            model = self.service.model(spec.name, spec.version.value if spec.HasField("version") else None)
            signature = spec.signature_name or SIGNATURE
            if signature != SIGNATURE:
                raise BadInput(f"signature_name {signature!r} not found: the model has {SIGNATURE!r}")
            if set(request.inputs) != {model.input.name}:
                raise BadInput(f"inputs names {sorted(request.inputs)}, the model's input is {model.input.name!r}")
            try:
                array = tf.make_ndarray(request.inputs[model.input.name])
            except (TypeError, ValueError) as error:
                raise BadInput(f"input {model.input.name} is not a readable TensorProto: {error}") from None
            batch = self.service.check_instances(model, array)
            outputs = await self.service.predict(model, batch)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = model.name
            response.model_spec.version.value = model.version
            response.model_spec.signature_name = SIGNATURE
            response.outputs[model.output.name].CopyFrom(tf.make_tensor_proto(outputs))
            return response

        return await self._answer(request, context, "grpc_predict", answer)

    async def GetModelMetadata(self, request, context):  # noqa: N802
        async def answer():
            spec = request.model_spec
            model = self.service.model(spec.name, spec.version.value if spec.HasField("version") else None)
            if list(request.metadata_field) != ["signature_def"]:
                raise BadInput(f"metadata_field must be ['signature_def'], got {list(request.metadata_field)}")
            signatures = get_model_metadata_pb2.SignatureDefMap()
            signatures.signature_def[SIGNATURE].CopyFrom(signature_def(model))
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = model.name
            response.model_spec.version.value = model.version
            response.metadata["signature_def"].Pack(signatures)
            return response

        return await self._answer(request, context, "grpc_metadata", answer)


class ModelService(_Base, model_service_pb2_grpc.ModelServiceServicer):
    async def GetModelStatus(self, request, context):  # noqa: N802
        async def answer():
            spec = request.model_spec
            model = self.service.model(spec.name, spec.version.value if spec.HasField("version") else None)
            status = get_model_status_pb2.ModelVersionStatus(
                version=model.version,
                state=get_model_status_pb2.ModelVersionStatus.AVAILABLE,
                status=status_pb2.StatusProto(error_code=0),
            )
            return get_model_status_pb2.GetModelStatusResponse(model_version_status=[status])

        return await self._answer(request, context, "grpc_status", answer)


def make_grpc_server(service: Service, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """An (unstarted) grpc.aio server of both services; returns it and the port it bound."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", service.limits.max_body_bytes),
            ("grpc.max_send_message_length", 64 << 20),
        ]
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(service), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(service), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    return server, bound
