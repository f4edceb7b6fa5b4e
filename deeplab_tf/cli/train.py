"""deeplab-train: train an experiment, resuming from model_dir if it holds checkpoints.

    deeplab-train --experiment=deeplabv3plus_mnv2_camvid --model_dir=runs/camvid --data_dir=records/camvid \\
        [--train_steps=N] [--batch_size=N] [--crop_size=H,W] [--learning_rate=X] [--config=key=value ...] \\
        [--strategy=default|mirrored|multi_worker_mirrored|tpu] [--mixed_precision=none|bfloat16|float16]

Quantization-aware fine-tuning of a trained float model (then deeplab-export --quantization=int8_qat):

    deeplab-train --experiment=deeplabv3plus_mnv2_camvid --qat_from=runs/camvid --model_dir=runs/camvid_qat \\
        --data_dir=records/camvid [--train_steps=N] [--learning_rate=X] [--config=quant.calibration_batches=N]

starts from the float run's best (else latest) checkpoint, calibrates activation ranges on training
batches, then trains quant.train_steps steps at quant.learning_rate (--train_steps / --learning_rate set
those) at the fixed size model.input_size (= data.crop_size).

Fine-tuning from trained or released weights (a new run; a classifier of another class count starts fresh):

    deeplab-train --experiment=deeplabv3_mnv2_dm05_camvid --init_from=runs/demo_257 \
        --model_dir=runs/camvid_ft --data_dir=runs/camvid/records

(runs/demo_257 from deeplab-import; a batch norm folded in the source gets the statistics of a few
training batches first, computing the same, so that training mode does not rescale every layer.)
An ImageNet backbone of the model zoo (no logits/semantic) loads every backbone layer by its original
name; the ASPP, decoder and logits start fresh:

    deeplab-train --experiment=deeplabv3plus_resnet101_beta_cityscapes \
        --init_from=resnet_v1_101_2018_05_04.tar.gz --model_dir=runs/r101 --data_dir=records/cityscapes

Any config field can be set with --config=dotted.key=value; --flagfile=FILE works.
"""

from __future__ import annotations

from absl import flags

from deeplab_tf.cli.common import define_experiment_flags, experiment_from_flags, run_main

FLAGS = flags.FLAGS
define_experiment_flags()
flags.DEFINE_string("model_dir", None, "Where checkpoints, experiment.json and TensorBoard events go.")
flags.DEFINE_string("data_dir", None, "Folder of TFRecords from deeplab-convert.")
flags.DEFINE_integer("train_steps", None, "Override train.train_steps.")
flags.DEFINE_integer("batch_size", None, "Override data.batch_size (global).")
flags.DEFINE_string("crop_size", None, "Override data.crop_size and model.input_size, H,W.")
flags.DEFINE_float("learning_rate", None, "Override train.learning_rate.")
flags.DEFINE_string("mixed_precision", None, "Override train.mixed_precision: none, bfloat16 or float16.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker_mirrored", "tpu"], "tf.distribute strategy.")
flags.DEFINE_string("tpu", "", "TPU address for --strategy=tpu.")
flags.DEFINE_integer("stop_at_step", None, "Stop with a checkpoint at this step (time-boxed runs).")
flags.DEFINE_bool("deterministic_ops", False, "tf.config.experimental.enable_op_determinism().")
flags.DEFINE_string("qat_from", None, "A float run's model_dir: fine-tune it quantization-aware into --model_dir.")
flags.DEFINE_string(
    "init_from",
    None,
    "Start a new run from these weights: a model_dir (its best, else latest checkpoint) or released "
    "weights (TF1 checkpoint prefix, model-zoo .tar.gz, float .tflite; see deeplab-import). Layers of "
    "other shapes (the classifier, with another class count) start fresh; weights of a backbone alone "
    "(the model zoo's ImageNet checkpoints) set the backbone, the heads start fresh. Ignored when resuming.",
)
flags.mark_flag_as_required("model_dir")


def overrides_from_flags() -> dict:
    schedule = "quant" if FLAGS.qat_from else "train"  # what --train_steps / --learning_rate set
    extra = {
        "data.data_dir": FLAGS.data_dir,
        f"{schedule}.train_steps": FLAGS.train_steps,
        "data.batch_size": FLAGS.batch_size,
        f"{schedule}.learning_rate": FLAGS.learning_rate,
        "train.mixed_precision": FLAGS.mixed_precision,
    }
    if FLAGS.crop_size:
        extra["data.crop_size"] = FLAGS.crop_size
        extra["model.input_size"] = FLAGS.crop_size
    return {key: value for key, value in extra.items() if value is not None}


def main(argv):
    del argv
    import tensorflow as tf

    from deeplab_tf.training.trainer import get_strategy, train

    config = experiment_from_flags(overrides_from_flags())
    if FLAGS.deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    if FLAGS.init_from and FLAGS.qat_from:
        raise ValueError("--init_from and --qat_from exclude each other: QAT starts from the float run it fine-tunes")
    initial_weights = None
    if FLAGS.init_from:
        from deeplab_tf.artifacts.model_dir import ModelDir
        from deeplab_tf.importing.initial import init_from_record, initial_weights_fn, read_init_from

        run = ModelDir(FLAGS.model_dir)
        if run.latest_checkpoint() is None:  # a new run: read the weights once, say where it starts from
            init = read_init_from(FLAGS.init_from)
            initial_weights = initial_weights_fn(init, config)
            run.write_init_from(init_from_record(init))
    result = train(
        config,
        FLAGS.model_dir,
        get_strategy(FLAGS.strategy, FLAGS.tpu),
        stop_at_step=FLAGS.stop_at_step,
        qat_from=FLAGS.qat_from,
        initial_weights=initial_weights,
    )
    if result["stopped_by_signal"]:
        print(f"stopped at step {result['step']} (checkpoint saved); run the same command to resume")
        raise SystemExit(143)  # 128 + SIGTERM, so that scripts do not go on as if training had finished
    if result["step"] == result["start_step"]:  # nothing left to train: no loss to report
        print(f"the run in {FLAGS.model_dir} was already complete at step {result['step']}; nothing to train")
        return
    print(f"done: step {result['step']}, loss {result['loss']:.4f}, model_dir {FLAGS.model_dir}")


def run():
    run_main(main)


if __name__ == "__main__":
    run()
