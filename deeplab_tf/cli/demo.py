"""deeplab-demo: from nothing to an int8 model on a phone-ready path, with a report.

    deeplab-demo [--workdir=deeplab_demo]
    deeplab-demo --dataset=camvid --data_dir=../shared/datasets/camvid --workdir=demo_camvid [--train_steps=N]

On the embedded synthetic dataset (no download): generates and converts the data,
trains deeplabv3plus_mnv2_synthetic, evaluates it, fine-tunes it quantization-aware,
exports float and int8 .tflite files with metadata and model cards, evaluates and
benchmarks them in the LiteRT interpreter, writes prediction overlays and
workdir/report.html, and prints the command that drops the int8 model into the
Android app. Running it again with the same --workdir resumes where it stopped
(Ctrl-C saves a training checkpoint first); options not given are the recorded run's.
"""

from __future__ import annotations

from absl import flags

from deeplab_tf.cli.common import define_experiment_flags, run_main

FLAGS = flags.FLAGS
define_experiment_flags(required=False)
flags.DEFINE_string("workdir", "deeplab_demo", "Where everything goes; an existing demo there is resumed.")
flags.DEFINE_string("dataset", None, "synthetic (default: generated, no download) or a real dataset, e.g. camvid.")
flags.DEFINE_string("data_dir", None, "The real dataset's folder (see datasets/NAME/README.md).")
flags.DEFINE_integer("train_steps", None, "Float training steps (synthetic default 700; others: the experiment's).")
flags.DEFINE_integer("qat_steps", None, "QAT fine-tuning steps (synthetic default 50; others: the experiment's).")
flags.DEFINE_integer("num_images", None, "synthetic: images per split (default 400 train, 100 val); others: first N.")
flags.DEFINE_integer("threads", 2, "LiteRT threads for the .tflite evaluation and benchmark.")
flags.DEFINE_integer("overlays", 4, "Validation images shown in the report.")


def main(argv):
    del argv
    from deeplab_tf.demo.pipeline import RUN_FIELDS, DemoOptions, run_demo

    if FLAGS.config:
        raise ValueError("deeplab-demo takes no --config; run deeplab-train and deeplab-export for a custom run")
    given = {name: getattr(FLAGS, name) for name in RUN_FIELDS if FLAGS[name].present}
    try:
        run_demo(DemoOptions(workdir=FLAGS.workdir, threads=FLAGS.threads, overlays=FLAGS.overlays, **given))
    except KeyboardInterrupt as stop:
        print(f"\n{stop or 'interrupted'}; run the same command to resume", flush=True)
        raise SystemExit(130) from None


def run():
    run_main(main)


if __name__ == "__main__":
    run()
