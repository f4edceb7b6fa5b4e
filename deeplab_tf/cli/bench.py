"""deeplab-bench: throughput of the pieces, measured as ratios in one run.

    deeplab-bench data --data_dir=DIR [--crop=360,480] [--batch_size=8] [--experiment=deeplabv3plus_mnv2_camvid] [--json]

    deeplab-bench tflite --model=FILE[,FILE...] [--threads=1,2,4] [--runs=30] [--warmup=5] [--json]

``tflite`` times .tflite files in the LiteRT interpreter (each thread count with
and without XNNPACK, a fresh process per configuration: median, p90, peak RSS)
and reports size, op histogram and the XNNPACK-delegated fraction; several
models are measured side by side in one run (deeplab_tf/export/benchmark.py).

``data`` times the training input pipeline alone (images/s after warm-up)
and, in the same run, one training step of the experiment's model at the same
crop and batch, and reports how many times faster the pipeline is.
"""

from __future__ import annotations

import dataclasses
import json
import time

from absl import flags

from deeplab_tf.cli.common import run_main

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of TFRecords (from deeplab-convert).")
flags.DEFINE_string("split", "train", "Split to read.")
flags.DEFINE_string("crop", "360,480", "Training crop H,W.")
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_string("experiment", "deeplabv3plus_mnv2_camvid", "Experiment whose training step is timed.")
flags.DEFINE_integer("batches", 30, "Batches to time (after warm-up).")
flags.DEFINE_integer("train_steps", 5, "Training steps to time (after warm-up); 0 skips the step.")
flags.DEFINE_bool("json", False, "Print JSON.")
flags.DEFINE_list("model", [], "tflite: .tflite file(s) to time, comma-separated.")
flags.DEFINE_list("threads", ["1", "2", "4"], "tflite: interpreter thread counts.")
flags.DEFINE_integer("runs", 30, "tflite: timed invocations per configuration.", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "tflite: untimed invocations first.", lower_bound=0)

COMMANDS = ("data", "tflite")


def _parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"--crop takes H,W (two integers), got {text!r}") from None
    return height, width


def bench_pipeline(dataset, batches: int, batch_size: int, warmup: int = 5) -> float:
    """Images per second of iterating ``dataset`` (after ``warmup`` batches)."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def bench_train_step(config, batch, steps: int, warmup: int = 2) -> float:
    """Images per second of the experiment's training step on a fixed batch."""
    import tf_keras as keras

    from deeplab_tf.models import build_deeplab
    from deeplab_tf.training.step import make_train_step

    model = build_deeplab(config.model)
    step = make_train_step(model, keras.optimizers.SGD(0.01, momentum=0.9), config.data.ignore_label)
    images, labels = batch["image"], batch["label"]
    for _ in range(warmup):
        step(images, labels).numpy()
    start = time.perf_counter()
    for _ in range(steps):
        step(images, labels).numpy()
    return steps * int(images.shape[0]) / (time.perf_counter() - start)


def bench_data() -> dict:
    from deeplab_tf.configs import get_experiment
    from deeplab_tf.data.pipeline import train_dataset
    from deeplab_tf.models import get_backbone_spec

    crop = _parse_size(FLAGS.crop)
    config = get_experiment(FLAGS.experiment)
    data = dataclasses.replace(
        config.data, data_dir=FLAGS.data_dir, train_split=FLAGS.split, crop_size=crop, batch_size=FLAGS.batch_size
    )
    config = dataclasses.replace(config, data=data, model=dataclasses.replace(config.model, input_size=crop))
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    dataset = train_dataset(data, preprocessing)
    result = {
        "crop": list(crop),
        "batch_size": FLAGS.batch_size,
        "pipeline_images_per_second": round(bench_pipeline(dataset, FLAGS.batches, FLAGS.batch_size), 2),
    }
    if FLAGS.train_steps:
        batch = next(iter(dataset))
        step_rate = bench_train_step(config, batch, FLAGS.train_steps)
        result.update(
            experiment=config.name,
            train_step_images_per_second=round(step_rate, 2),
            pipeline_to_step_ratio=round(result["pipeline_images_per_second"] / step_rate, 2),
        )
    return result


def bench_tflite() -> None:
    from deeplab_tf.export.benchmark import benchmark_tflite, format_benchmark

    if not FLAGS.model:
        raise ValueError("deeplab-bench tflite needs --model=FILE[,FILE...]")
    try:
        threads = [int(t) for t in FLAGS.threads]
    except ValueError:
        raise ValueError(f"--threads takes comma-separated integers, got {','.join(FLAGS.threads)!r}") from None
    if not threads or min(threads) < 1:
        raise ValueError(f"--threads takes positive integers, got {threads}")
    results = [benchmark_tflite(path, threads, FLAGS.warmup, FLAGS.runs) for path in FLAGS.model]
    if FLAGS.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        print("\n\n".join(format_benchmark(result) for result in results))


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise ValueError(f"deeplab-bench needs a command: one of {', '.join(COMMANDS)}")
    if argv[1] == "tflite":
        return bench_tflite()
    result = bench_data()
    if FLAGS.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")


def run():
    run_main(main)


if __name__ == "__main__":
    run()
