"""Training speed of deeplab_tf against TensorFlow Model Garden, side by side in one process.

    scripts/bench_vs_model_garden.sh --batch_size=4 --input_size=512,512 [--mixed_precision=none,bfloat16]
        [--qat] [--rounds=8] [--json]

(the .sh makes the virtualenv with tf-models-official that this script needs
and runs it there). Both sides train the same architecture, DeepLab v3+
MobileNetV2, OS16, ASPP rates 6/12/18 with image pooling, decoder, 21 classes,
random init, on the same synthetic batch:

- Model Garden: its own model factory (``mnv2_deeplabv3plus_cityscapes``'s
  head with the ASPP of its v3+ configs, 21 classes, non-synchronized batch
  norm as on one device), its own ``SegmentationLoss`` (logits resized to the
  labels) and L2 regularizer, compiled with plain Keras (SGD, momentum 0.9)
  and stepped with ``train_on_batch``; with --qat, its QAT factory
  (``official.projects.qat``).
- deeplab_tf: experiment ``deeplabv3plus_mnv2_pascal`` through
  ``training.benchmark.make_benchmark_step``, the step deeplab-train runs;
  with --qat, ``deeplab_tf.quantization.quantize_model``.

The machine may be busy: each round runs one step of every variant, in an
order that alternates between rounds, and the figure of merit is the median
over rounds of the per-round time ratio (Model Garden / ours), which a load
change between rounds does not bias.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time

from absl import app, flags

import deeplab_tf  # noqa: F401  (Keras 2 before TensorFlow loads)

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 4, "Batch size.")
flags.DEFINE_string("input_size", "512,512", "H,W.")
flags.DEFINE_list("mixed_precision", ["none"], "Comma-separated: none, bfloat16.")
flags.DEFINE_bool("qat", False, "Also time both quantization-aware models (float32).")
flags.DEFINE_integer("rounds", 8, "Timed rounds (one step of every variant each).")
flags.DEFINE_integer("warmup", 2, "Untimed steps of every variant first.")
flags.DEFINE_string("experiment", "deeplabv3plus_mnv2_pascal", "Our experiment.")
flags.DEFINE_bool("json", False, "Print JSON.")


def model_garden_step(batch_size: int, size: tuple[int, int], mixed_precision: str, qat: bool):
    """Model Garden's DeepLab v3+ MobileNetV2 and a ``run()`` doing one Keras training step."""
    import tensorflow as tf
    import tf_keras as keras
    from official.vision.configs import semantic_segmentation as seg_cfg
    from official.vision.losses import segmentation_losses
    from official.vision.modeling import factory

    from deeplab_tf.training.trainer import set_mixed_precision

    config = seg_cfg.mnv2_deeplabv3plus_cityscapes().task.model
    config.num_classes = 21
    config.input_size = [*size, 3]
    config.decoder.aspp.dilation_rates = [6, 12, 18]
    config.decoder.aspp.pool_kernel_size = None  # global average pooling, as ours
    config.norm_activation.use_sync_bn = False  # one device
    specs = keras.layers.InputSpec(shape=[None, *size, 3])
    previous = keras.mixed_precision.global_policy()
    set_mixed_precision(mixed_precision)
    try:
        model = factory.build_segmentation_model(specs, config, keras.regularizers.l2(4e-5 / 2.0))
        if qat:
            from official.projects.qat.vision.configs import common as qat_common
            from official.projects.qat.vision.modeling import factory as qat_factory

            model = qat_factory.build_qat_segmentation_model(model, qat_common.Quantization(), specs)
        loss = segmentation_losses.SegmentationLoss(
            label_smoothing=0.0, class_weights=[], ignore_label=255, use_groundtruth_dimension=True
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss={"logits": lambda labels, logits: loss(tf.cast(logits, tf.float32), labels)},
            jit_compile=False,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def our_config(batch_size: int, size: tuple[int, int], mixed_precision: str):
    from deeplab_tf.configs import get_experiment, override

    return override(
        get_experiment(FLAGS.experiment),
        {
            "model.input_size": size,
            "data.crop_size": size,
            "data.batch_size": batch_size,
            "train.mixed_precision": mixed_precision,
        },
    )


def forward_flops(model, size: tuple[int, int]) -> int:
    """Float operations of one inference forward pass at batch 1 (TF's graph profiler)."""
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False))
    graph = function.get_concrete_function(tf.TensorSpec([1, *size, 3], tf.float32)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


@dataclasses.dataclass
class Variant:
    name: str
    side: str  # "ours" or "model_garden"
    precision: str
    run: object
    times: list = dataclasses.field(default_factory=list)


def build_variants(batch_size: int, size: tuple[int, int]) -> tuple[list[Variant], tuple, dict]:
    """The variants to time, (our float model, Model Garden's) for the size facts, and notes."""
    from deeplab_tf.training.benchmark import build_training_model, make_benchmark_step, synthetic_batch

    variants, float_models, notes = [], None, {}
    modes = [(p, False) for p in FLAGS.mixed_precision] + ([("none", True)] if FLAGS.qat else [])
    for precision, qat in modes:
        label = "qat" if qat else precision
        config = our_config(batch_size, size, precision)
        variants.append(Variant(f"ours/{label}", "ours", label, make_benchmark_step(config, qat=qat)))
        images, labels = synthetic_batch(config)
        try:
            mg = model_garden_step(batch_size, size, precision, qat)
        except Exception as error:  # noqa: BLE001  (reported, and ours is compared with the float model)
            notes[f"model_garden/{label}"] = f"could not be built: {type(error).__name__}: {error}"
            continue
        variants.append(
            Variant(
                f"model_garden/{label}",
                "model_garden",
                label,
                lambda mg=mg, images=images, labels=labels: float(mg.train_on_batch(images, {"logits": labels})),
            )
        )
        if label == "none":
            float_models = (build_training_model(config), mg)
    return variants, float_models, notes


def size_facts(float_models, size: tuple[int, int]) -> dict:
    """Parameters and forward FLOPs of both float models (Model Garden's is built by its first step)."""
    if float_models is None:
        return {}
    ours, mg = float_models
    return {
        "parameters": {"ours": ours.count_params(), "model_garden": mg.count_params()},
        "forward_flops_batch1": {"ours": forward_flops(ours, size), "model_garden": forward_flops(mg, size)},
    }


def measure(variants: list[Variant], rounds: int, warmup: int) -> None:
    for variant in variants:
        for _ in range(warmup):
            variant.run()
    for index in range(rounds):
        for variant in variants if index % 2 == 0 else variants[::-1]:
            start = time.perf_counter()
            variant.run()
            variant.times.append(time.perf_counter() - start)


def summarize(variants: list[Variant], batch_size: int) -> dict:
    result = {}
    by_name = {v.name: v for v in variants}
    for variant in variants:
        if variant.side != "ours":
            continue
        mg = by_name.get(f"model_garden/{variant.precision}") or by_name["model_garden/none"]
        ratios = [m / o for m, o in zip(mg.times, variant.times, strict=True)]
        result[variant.precision] = {
            "against": mg.name,
            "ours_images_per_second": round(batch_size / statistics.median(variant.times), 3),
            "model_garden_images_per_second": round(batch_size / statistics.median(mg.times), 3),
            "speedup_median_of_round_ratios": round(statistics.median(ratios), 3),
            "round_ratios": [round(r, 3) for r in ratios],
        }
    return result


def main(argv):
    del argv
    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    height, width = (int(v) for v in FLAGS.input_size.split(","))
    variants, float_models, notes = build_variants(FLAGS.batch_size, (height, width))
    measure(variants, FLAGS.rounds, FLAGS.warmup)
    facts = size_facts(float_models, (height, width))
    report = {
        "batch_size": FLAGS.batch_size,
        "input_size": [height, width],
        "rounds": FLAGS.rounds,
        "tensorflow": tf.__version__,
        **facts,
        "results": summarize(variants, FLAGS.batch_size),
        "notes": notes,
    }
    if FLAGS.json:
        print(json.dumps(report, indent=2))
        return
    print(f"batch {FLAGS.batch_size}, {height}x{width}, {FLAGS.rounds} alternating rounds, TF {tf.__version__}")
    for key in ("parameters", "forward_flops_batch1"):
        if key in facts:
            print(f"{key:22s} ours {facts[key]['ours']:,}  model_garden {facts[key]['model_garden']:,}")
    for precision, row in report["results"].items():
        print(
            f"{precision:9s} ours {row['ours_images_per_second']:.2f} img/s  "
            f"model_garden {row['model_garden_images_per_second']:.2f} img/s  "
            f"speedup {row['speedup_median_of_round_ratios']:.2f}x  (against {row['against']})"
        )
    for name, note in notes.items():
        print(f"{name}: {note}")


if __name__ == "__main__":
    app.run(main)
