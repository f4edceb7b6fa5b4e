"""deeplab-serve answers as TF Serving does and as the models compute: REST predict and
:segment equal the SavedModel run in-process and the LiteRT output, gRPC equals REST."""

import base64
import io
import json

import cv2
import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from deeplab_tf.evaluation.tflite import TFLitePredictor, describe_tflite

SIZE = (65, 65)
# SavedModel scores through the server (batched with others or not) against one in-process run.
MAX_SCORE_DIFF = 1e-5


def png(image):
    return cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]) if image.ndim == 3 else image)[1].tobytes()


def pixels(size, seed):
    return np.random.RandomState(seed).randint(0, 256, (*size, 3), dtype=np.uint8)


def read_png(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def saved_model_scores(models_dir, images):
    signature = tf.saved_model.load(str(models_dir / "seg_sm" / "1")).signatures["serving_default"]
    return signature(image=tf.constant(images))["scores"].numpy()


def test_status_and_metadata_are_tf_serving_shaped(server):
    status, _, body = server.get("/v1/models/seg_sm")
    assert status == 200
    assert json.loads(body) == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    status, _, body = server.get("/v1/models/seg_sm/versions/1/metadata")
    signature = json.loads(body)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert status == 200 and json.loads(body)["model_spec"]["version"] == "1"
    assert signature["inputs"]["image"]["dtype"] == "DT_UINT8"
    assert [int(d["size"]) for d in signature["inputs"]["image"]["tensor_shape"]["dim"]] == [-1, *SIZE, 3]
    assert [int(d["size"]) for d in signature["outputs"]["scores"]["tensor_shape"]["dim"]] == [-1, *SIZE, 6]
    assert server.get("/v1/models/seg_sm/versions/2")[0] == 404
    assert server.get("/healthz")[0] == 200 and json.loads(server.get("/readyz")[2])["models"] == ["seg_sm", "seg_tfl"]


def test_predict_rows_columns_and_b64_equal_the_saved_model(server, models_dir):
    images = np.stack([pixels(SIZE, 1), pixels(SIZE, 2)])
    expected = saved_model_scores(models_dir, images)
    status, _, body = server.post_json("/v1/models/seg_sm:predict", {"instances": images.tolist()})
    assert status == 200, body
    rows = np.asarray(json.loads(body)["predictions"])
    assert rows.shape == (2, *SIZE, 6) and np.abs(rows - expected).max() < MAX_SCORE_DIFF
    inputs = {"inputs": {"image": [{"b64": base64.b64encode(png(image)).decode()} for image in images]}}
    status, _, body = server.post_json("/v1/models/seg_sm/versions/1:predict", inputs)
    assert status == 200, body
    columns = np.asarray(json.loads(body)["outputs"])
    assert np.abs(columns - expected).max() < MAX_SCORE_DIFF


def test_segment_equals_the_saved_model_at_the_image_size(server, models_dir):
    image = pixels((50, 80), 3)  # stretched to 65x65 and back, as the card's resize: "stretch"
    stretched = tf.image.resize(tf.constant(image, tf.float32), SIZE, method="bilinear")
    scores = saved_model_scores(models_dir, np.clip(np.round(stretched.numpy()), 0, 255).astype(np.uint8)[None])
    expected = tf.argmax(tf.image.resize(scores[0], (50, 80), method="bilinear"), axis=-1).numpy()
    status, headers, body = server.post("/v1/models/seg_sm:segment", png(image), {"Content-Type": "image/png"})
    assert status == 200 and headers["Content-Type"] == "image/png"
    mask = read_png(body)
    assert mask.shape == (50, 80) and np.count_nonzero(mask != expected) == 0
    assert len(np.unique(mask)) > 1  # a livened model: not one class everywhere


def test_segment_of_the_tflite_equals_litert_and_json_and_overlay(server, models_dir):
    image = pixels((90, 70), 4)
    described = describe_tflite(str(models_dir / "seg_tfl.tflite"))
    expected = TFLitePredictor(described["tflite_bytes"], described["preprocessing"], 6, num_threads=1).mask(image)
    status, _, body = server.post("/v1/models/seg_tfl:segment", png(image))
    assert status == 200
    mask = read_png(body)
    assert mask.shape == (90, 70) and np.count_nonzero(mask != expected) == 0
    status, _, body = server.post("/v1/models/seg_tfl:segment?format=json", png(image))
    summary = json.loads(body)
    ids, counts = np.unique(expected, return_counts=True)
    assert status == 200 and (summary["height"], summary["width"]) == (90, 70)
    assert [c["id"] for c in summary["classes"]] == ids.tolist()
    assert [c["name"] for c in summary["classes"]] == [described["class_names"][i] for i in ids]
    assert np.allclose([c["fraction"] for c in summary["classes"]], counts / expected.size, atol=1e-6)
    multipart_body, boundary = multipart(png(image))
    status, _, body = server.post(
        "/v1/models/seg_tfl:segment?format=overlay",
        multipart_body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    picture = read_png(body)
    assert status == 200 and picture.shape[0] >= 90 and picture.shape[1] > 70 and picture.shape[2] == 3


def multipart(data, boundary="deeplabboundary"):
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def test_grpc_client_gets_what_rest_gets(server, models_dir):
    images = np.stack([pixels(SIZE, 5)])
    expected = saved_model_scores(models_dir, images)
    with grpc.insecure_channel(server.grpc) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "seg_sm"
        request.model_spec.signature_name = "serving_default"
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(images))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        scores = tf.make_ndarray(response.outputs["scores"])
        assert scores.shape == (1, *SIZE, 6) and np.abs(scores - expected).max() < MAX_SCORE_DIFF
        assert response.model_spec.version.value == 1

        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "seg_tfl"
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request, timeout=30)
        assert status.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE

        metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        metadata_request.model_spec.name = "seg_sm"
        metadata = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(
            metadata_request, timeout=30
        )
        signatures = get_model_metadata_pb2.SignatureDefMap()
        metadata.metadata["signature_def"].Unpack(signatures)
        image = signatures.signature_def["serving_default"].inputs["image"]
        assert [d.size for d in image.tensor_shape.dim] == [-1, *SIZE, 3] and image.dtype == tf.uint8.as_datatype_enum

        request.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as error:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND and "nope" in error.value.details()
        request.model_spec.name = "seg_sm"
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(images.astype(np.float32) + 0.5))
        with pytest.raises(grpc.RpcError) as error:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "uint8" in error.value.details()
