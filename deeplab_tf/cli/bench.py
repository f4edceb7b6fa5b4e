"""deeplab-bench: throughput of the pieces, measured as ratios in one run.

    deeplab-bench data --data_dir=DIR [--crop=360,480] [--batch_size=8] [--experiment=deeplabv3plus_mnv2_camvid] [--json]

    deeplab-bench train --experiment=NAME [--smoke] [--batch_size=N] [--input_size=H,W] [--mixed_precision=bfloat16]
        [--qat] [--train_steps=5] [--warmup_steps=3] [--config=key=value ...] [--json]

    deeplab-bench tflite --model=FILE[,FILE...] [--threads=1,2,4] [--runs=30] [--warmup=5] [--json]
    deeplab-bench tflite --side_by_side --model=A,B[,...] [--threads=2] [--runs=100] [--json]

    deeplab-bench serve --model=PATH [--concurrency=1,4,16] [--requests=200] [--max_batch_size=16]
        [--batch_timeout_ms=5] [--threads=1] [--json]

``tflite`` times .tflite files in the LiteRT interpreter (each thread count with
and without XNNPACK, a fresh process per configuration: median, p90, peak RSS)
and reports size, op histogram and the XNNPACK-delegated fraction; several
models are measured one after the other in one run (deeplab_tf/export/benchmark.py).
With ``--side_by_side`` the files are loaded in one process and invoked in turn,
``--runs`` rounds per thread count: medians, and each file's speed relative to
the first (median of per-round ratios) -- what to compare on a shared machine.

``serve`` starts ``deeplab-serve --model=PATH`` twice (batching off and on) and
loads each served model with ``:segment`` requests at each concurrency, the two
servers in turn (4 rounds, order reversed every other round):
throughput, p50/p99 latency, errors (deeplab_tf/serving/benchmark.py).

``train`` times the project's training step (the one deeplab-train runs) on
a synthetic in-memory batch: images/s from the median step time after
warm-up (deeplab_tf/training/benchmark.py).

``data`` times the training input pipeline alone (images/s after warm-up)
and, in the same run, one training step of the experiment's model at the same
crop and batch, and reports how many times faster the pipeline is.
"""

from __future__ import annotations

import dataclasses
import json
import time

from absl import flags

from deeplab_tf.cli.common import define_experiment_flags, parse_size, run_main

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of TFRecords (from deeplab-convert).")
flags.DEFINE_string("split", "train", "Split to read.")
flags.DEFINE_string("crop", "360,480", "Training crop H,W.")
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("batches", 30, "Batches to time (after warm-up).")
flags.DEFINE_integer("train_steps", 5, "Training steps to time (after warm-up); 0 skips the step.")
flags.DEFINE_bool("json", False, "Print JSON.")
define_experiment_flags(required=False, default="deeplabv3plus_mnv2_camvid")  # the experiment timed
flags.DEFINE_string("input_size", None, "train: H,W of the model and batch (default: the experiment's).")
flags.DEFINE_string("mixed_precision", None, "train: none, bfloat16 or float16 (default: the experiment's).")
flags.DEFINE_bool("qat", False, "train: time the quantization-aware copy of the model.")
flags.DEFINE_integer("warmup_steps", 3, "train: untimed steps first (the first traces the graph).")
flags.DEFINE_list("model", [], "tflite: .tflite file(s) to time, comma-separated.")
flags.DEFINE_list("threads", ["1", "2", "4"], "tflite: interpreter thread counts; serve: the first is deeplab-serve --threads.")
flags.DEFINE_integer("runs", 30, "tflite: timed invocations per configuration.", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "tflite: untimed invocations first.", lower_bound=0)
flags.DEFINE_bool("side_by_side", False, "tflite: time the files in turn in one process, ratios to the first.")

flags.DEFINE_list("concurrency", ["1", "4", "16"], "serve: client concurrencies.")
flags.DEFINE_integer("requests", 200, "serve: requests per concurrency.", lower_bound=1)
flags.DEFINE_integer("max_batch_size", 16, "serve: deeplab-serve --max_batch_size with batching on.", lower_bound=1)
flags.DEFINE_float("batch_timeout_ms", 5.0, "serve: deeplab-serve --batch_timeout_ms.", lower_bound=0.0)

COMMANDS = ("data", "train", "tflite", "serve")


def bench_pipeline(dataset, batches: int, batch_size: int, warmup: int = 5) -> float:
    """Images per second of iterating ``dataset`` (after ``warmup`` batches)."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def bench_data() -> dict:
    from deeplab_tf.configs import get_experiment
    from deeplab_tf.data.pipeline import train_dataset
    from deeplab_tf.models import get_backbone_spec

    crop = parse_size(FLAGS.crop, "crop")
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
        from deeplab_tf.training.benchmark import benchmark_train_step

        step_rate = benchmark_train_step(config, FLAGS.train_steps, warmup_steps=2)["images_per_second"]
        result.update(
            experiment=config.name,
            train_step_images_per_second=round(step_rate, 2),
            pipeline_to_step_ratio=round(result["pipeline_images_per_second"] / step_rate, 2),
        )
    return result


def bench_train() -> dict:
    from deeplab_tf.cli.common import experiment_from_flags
    from deeplab_tf.training.benchmark import benchmark_train_step

    extra = {}
    if FLAGS["batch_size"].present:
        extra["data.batch_size"] = FLAGS.batch_size
    if FLAGS.input_size:
        extra["model.input_size"] = extra["data.crop_size"] = parse_size(FLAGS.input_size, "input_size")
    if FLAGS.mixed_precision:
        extra["train.mixed_precision"] = FLAGS.mixed_precision
    config = experiment_from_flags(extra)
    return benchmark_train_step(config, FLAGS.train_steps, FLAGS.warmup_steps, qat=FLAGS.qat)


def bench_tflite() -> None:
    from deeplab_tf.export.benchmark import benchmark_tflite, format_benchmark

    if not FLAGS.model:
        raise ValueError("deeplab-bench tflite needs --model=FILE[,FILE...]")
    threads = _positive_ints(FLAGS.threads, "threads")
    if FLAGS.side_by_side:
        from deeplab_tf.export.benchmark import format_side_by_side, side_by_side

        tables = [side_by_side(FLAGS.model, count, FLAGS.warmup, FLAGS.runs) for count in threads]
        if FLAGS.json:
            print(json.dumps(tables, indent=2))
        else:
            print("\n\n".join(format_side_by_side(table) for table in tables))
        return
    results = [benchmark_tflite(path, threads, FLAGS.warmup, FLAGS.runs) for path in FLAGS.model]
    if FLAGS.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        print("\n\n".join(format_benchmark(result) for result in results))


def _positive_ints(values: list[str], flag: str) -> list[int]:
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        raise ValueError(f"--{flag} takes comma-separated integers, got {','.join(values)!r}") from None
    if not numbers or min(numbers) < 1:
        raise ValueError(f"--{flag} takes positive integers, got {numbers}")
    return numbers


def bench_serve() -> None:
    from deeplab_tf.serving.benchmark import bench_serve as run_bench
    from deeplab_tf.serving.benchmark import format_serve

    if len(FLAGS.model) != 1:
        raise ValueError("deeplab-bench serve needs one --model=PATH (a SavedModel, .tflite or a folder of models)")
    threads = _positive_ints(FLAGS.threads, "threads")[0]
    rows = run_bench(
        FLAGS.model[0],
        tuple(_positive_ints(FLAGS.concurrency, "concurrency")),
        FLAGS.requests,
        FLAGS.max_batch_size,
        FLAGS.batch_timeout_ms,
        threads,
    )
    print(json.dumps(rows, indent=2) if FLAGS.json else format_serve(rows))


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise ValueError(f"deeplab-bench needs a command: one of {', '.join(COMMANDS)}")
    if argv[1] == "tflite":
        return bench_tflite()
    if argv[1] == "serve":
        return bench_serve()
    result = bench_train() if argv[1] == "train" else bench_data()
    if FLAGS.json:
        print(json.dumps(result, indent=2))
    elif argv[1] == "train":
        from deeplab_tf.training.benchmark import format_train_benchmark

        print(format_train_benchmark(result))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")


def run():
    run_main(main, aliases={"path": "model", "paths": "model"})


if __name__ == "__main__":
    run()
