"""deeplab-serve's library: models behind TF Serving's REST and gRPC APIs.

backends.py (a SavedModel or a .tflite behind one interface), images.py (bounded
image decoding), batching.py (dynamic batching, queue limit), rest.py (aiohttp
app: TF Serving REST, :segment, health, metrics), grpc_service.py (TF Serving's
PredictionService and ModelService), server.py (both on one event loop, SIGTERM drain).
"""
