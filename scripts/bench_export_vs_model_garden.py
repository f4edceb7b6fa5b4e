"""Exported .tflite files of deeplab_tf against TensorFlow Model Garden's, side by side.

    scripts/bench_export_vs_model_garden.sh [--architectures=v3plus,v3] [--input_size=512,512]
        [--calibration_images=32] [--rounds=3] [--work_dir=DIR] [--skip_export] [--json]

(the .sh makes the virtualenv with tf-models-official that this script needs
and runs it there). Two architectures, each built on both sides, 21 classes,
random init:

- v3plus: DeepLab v3+ MobileNetV2, OS16, ASPP (1x1, dense 3x3 rates 6/12/18,
  image pooling, 256 filters), decoder (48-channel low-level projection, two
  separable 3x3 of 256). Ours: experiment ``deeplabv3plus_mnv2_pascal``;
  Model Garden: ``mnv2_deeplabv3plus_cityscapes`` with 21 classes, rates
  6/12/18 and global pooling (its decoder reads block 2's 144-channel
  depthwise output, ours the block's 24-channel output).
- v3: DeepLab v3 MobileNetV2, OS16, mobile ASPP (1x1 + image pooling), no
  decoder. Ours: ``deeplabv3_mnv2_pascal``; Model Garden: ``mnv2_deeplabv3_pascal``.

Both sides get the same treatment: kernels from a fixed seed, every batch norm
"livened" the same way (random gamma, beta and variance; a fresh model's
identity batch norms make every output nearly uniform), int8 calibrated on the
same real images (CamVid frames stretched to the input size, written once to
a TFRecord file that both data pipelines read in file order). Each side is
exported through its own path:

- Model Garden: ``official.vision.serving`` export module (input type
  "tflite") -> SavedModel -> ``export_tflite_lib.convert_tflite_model`` with
  quant_type None (float), "int8_full" (its calibration reads the records
  through its own input pipeline) and, for QAT, its QAT export module
  (``official.projects.qat``, quant_type "qat", with ``decoder.aspp.output_tensor``
  set: see ``model_garden_params``; its activation ranges are tfmot's
  initial ones: Model Garden sets them only by fine-tuning).
- deeplab_tf: ``deeplab_tf.export.export.export_model`` of a model_dir (float scores
  with uint8 and with float32 input, float mask; int8_ptq scores and mask) and of a QAT model_dir (int8_qat scores and
  mask: ``finetune.build_qat_model`` of the float checkpoint, activation ranges
  set by ``calibration.calibrate`` on the same images in inference mode).

Every file is first benchmarked alone (``benchmark_tflite``: size, delegated
fraction, ops not delegated, latency without XNNPACK). Then each
architecture's files are timed side by side ``--rounds`` times
(``benchmark.side_by_side``: all of them loaded in one fresh process, invoked
in turn ``--runs`` times, XNNPACK, ``--threads``). The ratio columns are the
median over rounds of (ours / Model Garden's file of the same quantization),
of the medians and of the minima: the machine may be shared, a load change
falls on every file of a round alike, and a minimum is the least disturbed run.

Random weights have no accuracy to compare, and a livened random model still
predicts nearly one class everywhere (so argmax agreement between its int8 and
float files says nothing); accuracy of our int8 exports is measured on CamVid
(README), and both sides here quantize the same way (int8 weights per channel,
int8 activations per tensor, every layer).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import statistics

from absl import app, flags

import deeplab_tf  # noqa: F401  (Keras 2 before TensorFlow loads)

FLAGS = flags.FLAGS
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_list("architectures", ["v3plus", "v3"], "Comma-separated: v3plus, v3.")
flags.DEFINE_string("input_size", "512,512", "H,W of every export.")
flags.DEFINE_string(
    "camvid_dir", os.path.join(os.path.dirname(_REPO), "shared", "datasets", "camvid"), "CamVid (SegNet layout)."
)
flags.DEFINE_integer("calibration_images", 32, "CamVid train frames for int8 calibration (both sides).")
flags.DEFINE_integer("threads", 2, "Interpreter threads.")
flags.DEFINE_integer("runs", 60, "Invocations of each file per side-by-side round.", lower_bound=1)
flags.DEFINE_integer("rounds", 3, "Side-by-side rounds (fresh processes) per architecture.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of kernels and batch-norm livening.")
flags.DEFINE_string("work_dir", "/tmp/deeplab-export-vs-model-garden", "Records, model_dirs, SavedModels, files.")
flags.DEFINE_bool("skip_export", False, "Measure the files already in --work_dir/files.")
flags.DEFINE_bool("json", False, "Print JSON.")


@dataclasses.dataclass(frozen=True)
class Architecture:
    ours: str  # our experiment
    model_garden: str  # Model Garden's experiment (its QAT twin is NAME_qat)
    aspp_rates: tuple[int, ...]  # Model Garden's ASPP dilation rates


ARCHITECTURES = {
    "v3plus": Architecture("deeplabv3plus_mnv2_pascal", "mnv2_deeplabv3plus_cityscapes", (6, 12, 18)),
    "v3": Architecture("deeplabv3_mnv2_pascal", "mnv2_deeplabv3_pascal", ()),
}
# (quantization, output) of our files; each is timed against Model Garden's file of the same quantization.
# (quantization, output, input dtype). Model Garden's float file takes normalized
# float32 pixels and returns logits; ours with uint8 input also normalizes in the
# graph, so the float file is also exported with float32 input, the same contract.
OUR_FILES = (
    ("none", "scores", "uint8"),
    ("none", "scores", "float32"),
    ("none", "mask", "uint8"),
    ("int8_ptq", "scores", "uint8"),
    ("int8_ptq", "mask", "uint8"),
    ("int8_qat", "scores", "uint8"),
    ("int8_qat", "mask", "uint8"),
)
MODEL_GARDEN_FILES = {"none": None, "int8_ptq": "int8_full", "int8_qat": "qat"}  # ours -> its quant_type


@dataclasses.dataclass
class File:
    side: str  # "ours" or "model_garden"
    architecture: str
    quantization: str  # in our terms: none, int8_ptq, int8_qat
    output: str  # scores, mask, or logits (Model Garden)
    path: str
    medians: list = dataclasses.field(default_factory=list)  # per round
    minima: list = dataclasses.field(default_factory=list)  # per round
    benchmark: dict | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


# --- same inputs and weights for both sides -----------------------------------------


def frames(folder: str, count: int, size: tuple[int, int]):
    """``count`` RGB frames (uint8 [count, H, W, 3]) evenly spaced in ``folder``'s sorted
    PNG/JPEGs, stretched to ``size``; and their file names."""
    import cv2
    import numpy as np

    paths = sorted(glob.glob(os.path.join(folder, "*.png")) + glob.glob(os.path.join(folder, "*.jpg")))
    if len(paths) < count:
        raise FileNotFoundError(f"need {count} images in {folder}, found {len(paths)} (set --camvid_dir)")
    chosen = [paths[int(i * len(paths) / count)] for i in range(count)]
    images = [cv2.resize(cv2.imread(p)[..., ::-1], size[::-1], interpolation=cv2.INTER_AREA) for p in chosen]
    return np.stack(images), [os.path.basename(p) for p in chosen]


def write_records(folder: str, images, names) -> str:
    """One ``train-00000-of-00001.tfrecord`` of ``images`` in DeepLab's tf.Example
    schema (which Model Garden's segmentation decoder also reads); all-zero labels."""
    import cv2
    import numpy as np
    import tensorflow as tf

    from deeplab_tf.data.schema import make_example

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "train-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(path + ".tmp") as writer:
        for image, name in zip(images, names, strict=True):
            label = np.zeros(image.shape[:2], np.uint8)
            encoded = cv2.imencode(".png", image[..., ::-1])[1].tobytes()
            example = make_example(encoded, "png", cv2.imencode(".png", label)[1].tobytes(), name, *image.shape[:2])
            writer.write(example.SerializeToString())
    os.replace(path + ".tmp", path)
    return folder


def liven(model, seed: int) -> int:
    """Random batch-norm statistics (gamma U(1, 2), beta N(0, 0.5), moving variance
    U(0.2, 0.5), moving mean kept) for every built BatchNormalization, nested
    ones included, as tests/cli/test_export.py does; returns how many."""
    import numpy as np
    import tf_keras as keras

    rng = np.random.RandomState(seed)
    # (A layer the model never calls is never built and has no weights.)
    layers = [m for m in model.submodules if isinstance(m, keras.layers.BatchNormalization) and m.weights]
    for layer in layers:
        gamma, beta, mean, variance = layer.get_weights()
        layer.set_weights(
            [
                rng.uniform(1, 2, gamma.shape),
                rng.normal(0, 0.5, beta.shape),
                mean,
                rng.uniform(0.2, 0.5, variance.shape),
            ]
        )
    return len(layers)


# --- deeplab_tf ------------------------------------------------------------------------


def export_ours(
    name: str, architecture: Architecture, records: str, images, size, out_dir: str, seed: int
) -> list[File]:
    import tensorflow as tf
    import tf_keras as keras

    from deeplab_tf.configs import get_experiment, override
    from deeplab_tf.configs.records import save_experiment
    from deeplab_tf.export.export import ExportOptions, export_model
    from deeplab_tf.models import build_deeplab, get_backbone_spec
    from deeplab_tf.quantization.calibration import calibrate
    from deeplab_tf.quantization.finetune import build_qat_model

    batch = 4
    config = override(
        get_experiment(architecture.ours),
        # One record file read in order (shuffle buffer 1): the calibration batches are the images, once each.
        {
            "model.input_size": size,
            "data.crop_size": size,
            "data.data_dir": records,
            "data.batch_size": batch,
            "data.shuffle_buffer": 1,
        },
    )
    root = os.path.join(FLAGS.work_dir, "ours", name)
    float_dir, qat_dir = os.path.join(root, "model"), os.path.join(root, "qat")
    save_experiment(float_dir, config)
    keras.utils.set_random_seed(seed)
    model = build_deeplab(config.model)
    liven(model, seed)
    checkpoint = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), os.path.join(float_dir, "ckpt"), 1).save(
        1
    )

    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    normalized = (images.astype("float32") - preprocessing.mean) / preprocessing.std
    qat = build_qat_model(config, checkpoint)
    calibrate(qat, [normalized[i : i + batch] for i in range(0, len(normalized), batch)], training=False)
    save_experiment(qat_dir, config, qat_origin={"float_model_dir": float_dir, "float_checkpoint": checkpoint})
    tf.train.CheckpointManager(tf.train.Checkpoint(model=qat), os.path.join(qat_dir, "ckpt"), 1).save(1)

    files = []
    for quantization, output, input_dtype in OUR_FILES:
        suffix = "" if input_dtype == "uint8" else f"-{input_dtype}in"
        stem = f"ours_{name}_{quantization}_{output}{suffix}"
        options = ExportOptions(
            quantization=quantization,
            output=output,
            input_dtype=input_dtype,
            name=stem,
            calibration_batches=len(images) // batch,
        )
        result = export_model(qat_dir if quantization == "int8_qat" else float_dir, out_dir, options)
        files.append(File("ours", name, quantization, output, result["files"]["model"]))
    return files


# --- Model Garden -------------------------------------------------------------------------


def model_garden_params(architecture: Architecture, size, records: str, qat: bool):
    from official.core import exp_factory
    from official.projects.qat.vision.configs import semantic_segmentation  # noqa: F401  (registers *_qat)

    params = exp_factory.get_exp_config(architecture.model_garden + ("_qat" if qat else ""))
    model = params.task.model
    model.num_classes = 21
    model.input_size = [*size, 3]
    model.decoder.aspp.dilation_rates = list(architecture.aspp_rates)
    model.decoder.aspp.pool_kernel_size = None  # global average pooling
    model.norm_activation.use_sync_bn = False  # one device
    if qat:
        # Its QAT factory fails on its own experiments otherwise: the ASPP decoder returns {"4": tensor},
        # the head is called with (backbone feature, that dict), and tfmot 0.8's ModelTransformer reads
        # every inbound connection as a list ([layer, node, tensor, kwargs]): KeyError 0 on the dict.
        # Model Garden's option to return the tensor itself; the same graph.
        model.decoder.aspp.output_tensor = True
    data = params.task.train_data
    # The representative dataset of export_tflite_lib reads train_data; as evaluation data
    # (no shuffling, flipping or scaling), each image once, in file order.
    data.input_path = os.path.join(records, "train-*")
    data.output_size = list(size)
    data.is_training = False
    data.drop_remainder = False
    data.aug_rand_hflip = False
    return params


def export_model_garden(
    name: str, architecture: Architecture, records: str, size, out_dir: str, seed: int
) -> list[File]:
    import tensorflow as tf
    import tf_keras as keras
    from official.projects.qat.vision.serving import export_module as qat_export_module
    from official.vision.serving import export_saved_model_lib, export_tflite_lib
    from official.vision.serving import semantic_segmentation as serving

    from deeplab_tf.artifacts.files import write_bytes_atomic

    root = os.path.join(FLAGS.work_dir, "model_garden", name)
    params = model_garden_params(architecture, size, records, qat=False)
    keras.utils.set_random_seed(seed)
    module = serving.SegmentationModule(params, batch_size=1, input_image_size=list(size), input_type="tflite")
    module.model(tf.zeros([1, *size, 3]), training=False)  # builds the decoder and head (their weights)
    liven(module.model, seed)
    checkpoint = tf.train.Checkpoint(model=module.model, **module.model.checkpoint_items).save(
        os.path.join(root, "float_ckpt", "ckpt")
    )
    qat_params = model_garden_params(architecture, size, records, qat=True)
    qat_params.task.quantization.pretrained_original_checkpoint = checkpoint
    qat_module = qat_export_module.SegmentationModule(
        qat_params, batch_size=1, input_image_size=list(size), input_type="tflite"
    )

    files = []
    for kind, export in (("float", module), ("qat", qat_module)):
        saved_model = os.path.join(root, f"saved_model_{kind}")
        export_saved_model_lib.export_inference_graph(
            input_type="tflite",
            batch_size=1,
            input_image_size=list(size),
            params=export.params,
            checkpoint_path=None,  # the module's model holds the weights
            export_dir=saved_model,
            export_module=export,
        )
        for quantization, quant_type in MODEL_GARDEN_FILES.items():
            if (quantization == "int8_qat") != (kind == "qat"):
                continue
            tflite_bytes = export_tflite_lib.convert_tflite_model(
                saved_model_dir=saved_model,
                quant_type=quant_type,
                params=export.params,
                calibration_steps=FLAGS.calibration_images,
            )
            path = os.path.join(out_dir, f"model_garden_{name}_{quant_type or 'float'}_logits.tflite")
            write_bytes_atomic(path, tflite_bytes)
            files.append(File("model_garden", name, quantization, "logits", path))
    return files


# --- measuring ------------------------------------------------------------------------------


def measure(files: list[File]) -> None:
    from deeplab_tf.export.benchmark import benchmark_tflite, side_by_side

    for file in files:
        file.benchmark = benchmark_tflite(file.path, threads=(FLAGS.threads,), runs=FLAGS.runs)
    for _ in range(FLAGS.rounds):
        for name in dict.fromkeys(file.architecture for file in files):
            group = [file for file in files if file.architecture == name]
            results = side_by_side([file.path for file in group], threads=FLAGS.threads, rounds=FLAGS.runs)
            for file, result in zip(group, results, strict=True):
                file.medians.append(result["median_ms"])
                file.minima.append(result["min_ms"])


def counterpart(file: File, files: list[File]) -> File | None:
    return next(
        (
            f
            for f in files
            if f.side == "model_garden" and f.architecture == file.architecture and f.quantization == file.quantization
        ),
        None,
    )


def ratio(ours: list[float], model_garden: list[float]) -> float:
    """Median over rounds of the per-round ratio."""
    return round(statistics.median(o / m for o, m in zip(ours, model_garden, strict=True)), 3)


def summarize(files: list[File]) -> list[dict]:
    rows = []
    for file in files:
        other = counterpart(file, files) if file.side == "ours" else None
        delegation = file.benchmark["delegation"]
        rows.append(
            {
                "file": file.name,
                "side": file.side,
                "architecture": file.architecture,
                "quantization": file.quantization,
                "output": file.output,
                "size_mb": round(file.benchmark["size_bytes"] / 1e6, 2),
                "median_ms": round(statistics.median(file.medians), 2),
                "min_ms": round(statistics.median(file.minima), 2),
                "round_medians_ms": [round(m, 2) for m in file.medians],
                "round_minima_ms": [round(m, 2) for m in file.minima],
                "median_no_xnnpack_ms": round(
                    next(r for r in file.benchmark["runs"] if not r["xnnpack"])["median_ms"], 2
                ),
                "against": other.name if other else None,
                "ratio_to_model_garden": ratio(file.medians, other.medians) if other else None,
                "min_ratio_to_model_garden": ratio(file.minima, other.minima) if other else None,
                "delegated_fraction": round(delegation["fraction"], 4),
                "not_delegated": delegation["not_delegated"],
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'file':40s} {'MB':>6s} {'median':>7s} {'x MG':>5s} {'min':>7s} {'x MG':>5s} {'deleg.':>7s}  not delegated"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratios = [
            f"{row[k]:.2f}" if row[k] is not None else "-"
            for k in ("ratio_to_model_garden", "min_ratio_to_model_garden")
        ]
        missing = ", ".join(f"{op} {n}" for op, n in row["not_delegated"].items()) or "none"
        print(
            f"{row['file'].removesuffix('.tflite'):40s} {row['size_mb']:6.2f} {row['median_ms']:7.2f} {ratios[0]:>5s} "
            f"{row['min_ms']:7.2f} {ratios[1]:>5s} "
            f"{row['delegated_fraction']:7.1%}  {missing}"
        )


def main(argv):
    del argv
    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    size = tuple(int(v) for v in FLAGS.input_size.split(","))
    unknown = set(FLAGS.architectures) - set(ARCHITECTURES)
    if unknown:
        raise app.UsageError(f"unknown --architectures {sorted(unknown)}; known: {sorted(ARCHITECTURES)}")
    out_dir = os.path.join(FLAGS.work_dir, "files")
    records = os.path.join(FLAGS.work_dir, "records")
    os.makedirs(out_dir, exist_ok=True)
    if not FLAGS.skip_export:
        calibration, names = frames(os.path.join(FLAGS.camvid_dir, "train"), FLAGS.calibration_images, size)
        write_records(records, calibration, names)
    files = []
    for name in FLAGS.architectures:
        architecture = ARCHITECTURES[name]
        if FLAGS.skip_export:
            for path in sorted(glob.glob(os.path.join(out_dir, f"*_{name}_*.tflite"))):
                side = "ours" if os.path.basename(path).startswith("ours_") else "model_garden"
                stem = os.path.basename(path).removesuffix(".tflite").split(f"_{name}_", 1)[1]
                quantization = {"float": "none", "int8_full": "int8_ptq", "qat": "int8_qat"}.get(
                    stem.rsplit("_", 1)[0], stem.rsplit("_", 1)[0]
                )
                files.append(File(side, name, quantization, stem.rsplit("_", 1)[1], path))
            continue
        files += export_model_garden(name, architecture, records, size, out_dir, FLAGS.seed)
        files += export_ours(name, architecture, records, calibration, size, out_dir, FLAGS.seed)
    if not files:
        raise FileNotFoundError(f"no .tflite files in {out_dir}; run without --skip_export first")
    measure(files)
    rows = summarize(files)
    report = {
        "input_size": list(size),
        "threads": FLAGS.threads,
        "runs": FLAGS.runs,
        "rounds": FLAGS.rounds,
        "calibration_images": FLAGS.calibration_images,
        "tensorflow": tf.__version__,
        "files": rows,
    }
    if FLAGS.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{size[0]}x{size[1]}, XNNPACK {FLAGS.threads} threads, {FLAGS.rounds} rounds (one process each, an "
        f"architecture's files invoked in turn) x {FLAGS.runs} runs: median over rounds of each round's median and "
        "min ms; 'x MG' = median of per-round ratios to Model Garden's file of the same quantization"
    )
    print_table(rows)
    from deeplab_tf.artifacts.files import write_bytes_atomic

    write_bytes_atomic(os.path.join(FLAGS.work_dir, "report.json"), json.dumps(report, indent=2).encode())


if __name__ == "__main__":
    app.run(main)
