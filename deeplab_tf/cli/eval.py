"""deeplab-eval: mIoU of a trained model, with a JSON report and pictures.

    deeplab-eval --model_dir=DIR --data_dir=DIR [--split=val]
                 [--scales=0.75,1.0,1.25] [--flip] [--eval_size=H,W] [--max_batches=N]
                 [--output_dir=DIR | --output_json=FILE]
    deeplab-eval --checkpoint=MODEL_DIR/best/ckpt-N --data_dir=DIR
    deeplab-eval --model_dir=DIR --data_dir=DIR --watch [--watch_timeout=3600]
    deeplab-eval --tflite=FILE --data_dir=DIR [--split=val] [--num_threads=2] [--output_json=FILE]

Reads the experiment from MODEL_DIR/experiment.json, restores the newest
checkpoint of MODEL_DIR/ckpt (or --checkpoint), prints mIoU and the IoU of
every class, and writes REPORT.json, REPORT_confusion.png and REPORT_iou.png
(default MODEL_DIR/eval/eval_SPLIT_stepN.*). --watch evaluates every new
checkpoint of MODEL_DIR/ckpt as training writes it, one report per step.
--tflite evaluates the exported file itself in the LiteRT interpreter
(XNNPACK), each image stretched to the model's input size and the output
resized back, as an app runs it; input form, classes and normalization come
from the model card beside it (report default: FILE's stem + _eval_SPLIT.json).
"""

from __future__ import annotations

import dataclasses
import os
import re

import tensorflow as tf
from absl import flags

from deeplab_tf.cli.common import parse_size, run_main

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Training folder (experiment.json, ckpt/).")
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix, MODEL_DIR/ckpt/ckpt-N or MODEL_DIR/best/ckpt-N.")
flags.DEFINE_string("data_dir", None, "Folder of TFRecords; default the experiment's data.data_dir.")
flags.DEFINE_string("split", None, "Split to evaluate; default the experiment's data.eval_split.")
flags.DEFINE_string("scales", "1.0", "Comma-separated inference scales, e.g. 0.75,1.0,1.25.")
flags.DEFINE_bool("flip", False, "Also average over left-right flipped images.")
flags.DEFINE_string("eval_size", None, "H,W images are padded to; default data.eval_size, else the split's largest image.")
flags.DEFINE_string("output_json", None, "Report path; default OUTPUT_DIR/eval_SPLIT_stepN.json.")
flags.DEFINE_string("output_dir", None, "Folder of reports; default MODEL_DIR/eval.")
flags.DEFINE_integer("max_batches", None, "Evaluate only this many batches.", lower_bound=1)
flags.DEFINE_bool("watch", False, "Evaluate each new checkpoint of MODEL_DIR/ckpt as it appears.")
flags.DEFINE_float("watch_timeout", 3600, "With --watch: stop after this many seconds without a new checkpoint.")
flags.DEFINE_float("watch_interval", 30, "With --watch: seconds between looks for a new checkpoint.")
flags.DEFINE_string("tflite", None, "Evaluate this .tflite (LiteRT interpreter) instead of a checkpoint.")
flags.DEFINE_integer("num_threads", 2, "With --tflite: interpreter threads.", lower_bound=1)


# --- checkpoints -------------------------------------------------------------------


def resolve_checkpoint(model_dir: str | None, checkpoint: str | None) -> tuple[str, str | None]:
    """(model_dir, checkpoint prefix or None) from the flags; a checkpoint's
    model_dir is its grandparent folder.

    Raises:
      ValueError: both or neither given; FileNotFoundError: no such checkpoint.
    """
    if bool(model_dir) == bool(checkpoint):
        raise ValueError("pass exactly one of --model_dir=DIR or --checkpoint=MODEL_DIR/ckpt/ckpt-N")
    if not checkpoint:
        return model_dir, None
    checkpoint = re.sub(r"\.(index|data-\d+-of-\d+)$", "", checkpoint.rstrip("/"))
    if not tf.io.gfile.exists(f"{checkpoint}.index"):
        raise FileNotFoundError(
            f"checkpoint {checkpoint} does not exist (no {checkpoint}.index); "
            "pass a prefix such as MODEL_DIR/ckpt/ckpt-5"
        )
    return os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))), checkpoint


# --- one evaluation -------------------------------------------------------------------


def format_result(result: dict) -> str:
    def number(value):
        return "n/a" if value is None else f"{value:.4f}"

    names = list(result["per_class_iou"])
    width = max(len("class"), *(len(n) for n in names))
    lines = [
        f"mIoU {number(result['miou'])} over {len(result['present_classes'])} of {len(names)} classes present; "
        f"pixel accuracy {number(result['pixel_accuracy'])}, mean accuracy {number(result['mean_accuracy'])}, "
        f"frequency-weighted IoU {number(result['frequency_weighted_iou'])}",
        f"{'class':<{width}}  IoU",
    ]
    lines += [f"{name:<{width}}  {number(iou)}" for name, iou in result["per_class_iou"].items()]
    return "\n".join(lines)


class CheckpointEvaluator:
    """Restores one checkpoint after another into a model built once, evaluates and reports."""

    def __init__(self, config, data_config, eval_size, scales, flip, max_batches, output_dir):
        from deeplab_tf.evaluation.report import class_names_and_colors
        from deeplab_tf.models import get_backbone_spec

        self.config, self.data = config, data_config
        self.eval_size, self.scales, self.flip, self.max_batches = eval_size, scales, flip, max_batches
        self.output_dir = output_dir
        self.preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
        self.class_names, self.colormap = class_names_and_colors(
            data_config.dataset, config.model.num_classes, data_config.data_dir
        )
        self.model = None

    def report_path(self, checkpoint: str) -> str:
        from deeplab_tf.evaluation.evaluator import checkpoint_step

        split = self.data.eval_split
        return os.path.join(self.output_dir, f"eval_{split}_step{checkpoint_step(checkpoint)}.json")

    def __call__(self, checkpoint: str, json_path: str | None = None) -> dict:
        from deeplab_tf.artifacts.model_dir import restore_model
        from deeplab_tf.evaluation.evaluator import checkpoint_step, evaluate, evaluation_error, load_trained_model
        from deeplab_tf.evaluation.report import write_report

        if self.model is None:
            self.model, self.model_config = load_trained_model(self.config.model, checkpoint, self.eval_size)
        else:
            restore_model(self.model, checkpoint)
        try:
            result = evaluate(
                self.model,
                self.model_config,
                self.data,
                self.preprocessing,
                self.eval_size,
                scales=self.scales,
                flip=self.flip,
                max_batches=self.max_batches,
                class_names=self.class_names,
            )
        except tf.errors.OpError as error:
            raise evaluation_error(error) from None
        step = checkpoint_step(checkpoint)
        report = {
            "experiment": self.config.name,
            "checkpoint": os.path.abspath(checkpoint),
            "step": step,
            "data_dir": self.data.data_dir,
            "split": self.data.eval_split,
            "class_names": self.class_names,
            **result,
        }
        paths = write_report(json_path or self.report_path(checkpoint), report, self.class_names, self.colormap)
        print(
            f"{self.config.name}: {checkpoint} (step {step}), split {self.data.eval_split}, "
            f"{result['num_images']} images, scales {list(self.scales)}, flip {self.flip}, "
            f"{result['images_per_second']:.1f} images/s"
        )
        print(format_result(result))
        print(f"report: {paths['json']}", flush=True)
        return report


def evaluate_tflite_main() -> None:
    from deeplab_tf.evaluation.report import write_report
    from deeplab_tf.evaluation.tflite import evaluate_tflite_file

    if FLAGS.model_dir or FLAGS.checkpoint or FLAGS.watch:
        raise ValueError("--tflite evaluates a file: pass it without --model_dir, --checkpoint or --watch")
    if not FLAGS.data_dir:
        raise ValueError("--tflite needs --data_dir=DIR (a folder of TFRecords from deeplab-convert)")
    split = FLAGS.split or "val"
    report, colormap = evaluate_tflite_file(FLAGS.tflite, FLAGS.data_dir, split, FLAGS.num_threads, FLAGS.max_batches)
    stem = os.path.basename(FLAGS.tflite).removesuffix(".tflite")
    folder = FLAGS.output_dir or os.path.dirname(os.path.abspath(FLAGS.tflite))
    paths = write_report(
        FLAGS.output_json or os.path.join(folder, f"{stem}_eval_{split}.json"), report, report["class_names"], colormap
    )
    print(
        f"{FLAGS.tflite}: split {split}, {report['num_images']} images, input {report['input']['dtype']} "
        f"{report['input']['height']}x{report['input']['width']}, output {report['output']['kind']}, "
        f"{report['images_per_second']:.1f} images/s ({FLAGS.num_threads} threads, XNNPACK)"
    )
    print(format_result(report))
    print(f"report: {paths['json']}", flush=True)


def main(argv):
    del argv
    if FLAGS.tflite:
        evaluate_tflite_main()
        return
    from deeplab_tf.artifacts.model_dir import ModelDir
    from deeplab_tf.configs.records import load_experiment
    from deeplab_tf.data.pipeline import list_record_files
    from deeplab_tf.evaluation.evaluator import default_eval_size, list_checkpoints, parse_scales, watch_checkpoints

    model_dir, checkpoint = resolve_checkpoint(FLAGS.model_dir, FLAGS.checkpoint)
    if FLAGS.watch and (checkpoint or FLAGS.output_json):
        raise ValueError("--watch takes --model_dir (not --checkpoint) and writes one report per step to --output_dir")
    scales = parse_scales(FLAGS.scales)
    config = load_experiment(model_dir)
    data = dataclasses.replace(
        config.data,
        data_dir=FLAGS.data_dir or config.data.data_dir,
        eval_split=FLAGS.split or config.data.eval_split,
    )
    if not FLAGS.watch:
        checkpoint = checkpoint or ModelDir(model_dir).require_checkpoint()
    list_record_files(data.data_dir, data.eval_split)
    eval_size = parse_size(FLAGS.eval_size, "eval_size") if FLAGS.eval_size else default_eval_size(data)
    output_dir = FLAGS.output_dir or os.path.join(model_dir, "eval")
    evaluator = CheckpointEvaluator(config, data, eval_size, scales, FLAGS.flip, FLAGS.max_batches, output_dir)
    if not FLAGS.watch:
        evaluator(checkpoint, FLAGS.output_json)
        return

    def evaluate_new(path):
        if os.path.exists(evaluator.report_path(path)):
            print(f"{path}: already evaluated ({evaluator.report_path(path)})", flush=True)
            return
        try:
            evaluator(path)
        except (tf.errors.NotFoundError, FileNotFoundError):
            print(f"{path}: removed before it could be evaluated; skipped", flush=True)

    print(f"watching {os.path.join(model_dir, 'ckpt')} (stop after {FLAGS.watch_timeout:g} s without a new checkpoint)")
    count = watch_checkpoints(
        lambda: list_checkpoints(model_dir), evaluate_new, FLAGS.watch_timeout, FLAGS.watch_interval
    )
    print(f"no new checkpoint for {FLAGS.watch_timeout:g} s; stopping after {count} checkpoint(s)")


def run():
    run_main(main, aliases={"path": "tflite"})


if __name__ == "__main__":
    run()
