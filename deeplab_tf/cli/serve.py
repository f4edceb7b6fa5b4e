"""deeplab-serve: segmentation models behind TensorFlow Serving's REST and gRPC APIs.

    deeplab-serve --model=PATH [--name=NAME] [--host=127.0.0.1] [--port=8501] [--grpc_port=8500]
                  [--max_batch_size=8] [--batch_timeout_ms=5] [--batching] [--threads=N]
                  [--max_body_mb=8] [--max_pixels=40000000] [--max_queue=64] [--drain_s=30]

PATH: a SavedModel (deeplab-export --format=saved_model), a TF Serving model
folder NAME/VERSION/saved_model.pb, a .tflite export (its model card beside it),
or a folder of several, each served under its name. Existing TF Serving clients
work unchanged: GET /v1/models/NAME[/metadata], POST /v1/models/NAME:predict,
and gRPC PredictionService.Predict / ModelService.GetModelStatus. For people:
POST /v1/models/NAME:segment with a JPEG/PNG body -> the label mask as PNG at
the image's size (?format=json: per-class pixel fractions; ?format=overlay).
/healthz, /readyz, /metrics (Prometheus). SIGTERM drains and exits 0.
Port 0 binds a free port; the ports are printed as a JSON line once serving.
"""

from __future__ import annotations

import asyncio

from absl import flags

from deeplab_tf.cli.common import run_main

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A SavedModel, NAME/VERSION folder, .tflite, or a folder of several.")
flags.DEFINE_string("name", None, "Name of a single model (default: its file or folder name).")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
flags.DEFINE_integer("port", 8501, "REST port (0: a free one).", lower_bound=0)
flags.DEFINE_integer("grpc_port", 8500, "gRPC port (0: a free one; -1: no gRPC).", lower_bound=-1)
flags.DEFINE_integer("max_batch_size", 8, "Most images per model run and per request.", lower_bound=1)
flags.DEFINE_float("batch_timeout_ms", 5.0, "How long a batch waits to fill.", lower_bound=0.0)
flags.DEFINE_bool("batching", True, "Group concurrent requests into one model run (--nobatching: one at a time).")
flags.DEFINE_integer("threads", 1, "LiteRT interpreter threads of a .tflite (XNNPACK).", lower_bound=1)
flags.DEFINE_float("max_body_mb", 8.0, "Largest request body, MB.", lower_bound=0.001)
flags.DEFINE_integer(
    "max_pixels", 40_000_000, "Largest image, pixels (read from the header, before decoding).", lower_bound=1
)
flags.DEFINE_integer("max_queue", 64, "Most images waiting per model; more get 503 + Retry-After.", lower_bound=1)
flags.DEFINE_float("drain_s", 30.0, "On SIGTERM, how long to wait for requests in flight.", lower_bound=0.0)
flags.mark_flag_as_required("model")


def main(argv):
    del argv
    from deeplab_tf.serving.backends import load_models
    from deeplab_tf.serving.server import serve
    from deeplab_tf.serving.service import MB, Limits, Service

    limits = Limits(
        max_body_bytes=int(FLAGS.max_body_mb * MB),
        max_pixels=FLAGS.max_pixels,
        max_batch_size=FLAGS.max_batch_size,
        batch_timeout_ms=FLAGS.batch_timeout_ms,
        max_queue=FLAGS.max_queue,
        batching=FLAGS.batching,
    )
    service = Service(load_models(FLAGS.model, FLAGS.name, FLAGS.threads), limits)
    grpc_port = None if FLAGS.grpc_port < 0 else FLAGS.grpc_port
    asyncio.run(serve(service, FLAGS.host, FLAGS.port, grpc_port, FLAGS.drain_s))


def run():
    run_main(main, aliases={"path": "model"})


if __name__ == "__main__":
    run()
