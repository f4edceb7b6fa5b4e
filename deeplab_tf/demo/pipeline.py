"""deeplab-demo: data -> float training -> evaluation -> QAT -> float and int8 .tflite ->
their evaluation and benchmark -> overlays -> report.html, resumable stage by stage.

Each stage writes its outputs under the workdir and then records its result in
``workdir/demo.json`` (atomically); a run that is stopped or killed resumes with
the first stage not recorded, and training resumes from its last checkpoint.
The stages call the same functions as the CLIs (deeplab-convert, deeplab-train,
deeplab-eval, deeplab-export, deeplab-bench), so the demo is the project's
pipeline, not a copy of it.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

from deeplab_tf.artifacts.errors import ArgumentValueError
from deeplab_tf.artifacts.files import read_json, write_json_atomic, write_npz_atomic
from deeplab_tf.configs import ExperimentConfig, get_experiment, override
from deeplab_tf.data.converters import convert
from deeplab_tf.data.pipeline import list_record_files
from deeplab_tf.data.schema import parse_example
from deeplab_tf.demo import report as demo_report
from deeplab_tf.evaluation.evaluator import default_eval_size, evaluate, load_trained_model
from deeplab_tf.evaluation.report import class_names_and_colors, comparison_strip, write_png, write_report
from deeplab_tf.evaluation.tflite import TFLitePredictor, describe_tflite, evaluate_tflite_file
from deeplab_tf.export.benchmark import benchmark_tflite
from deeplab_tf.export.export import ExportOptions, export_model, find_checkpoint
from deeplab_tf.models import get_backbone_spec
from deeplab_tf.training.trainer import train

STATE_FILE = "demo.json"
STATE_FORMAT = "deeplab_tf.demo/1"

# dataset -> (experiment, float steps, QAT steps, images per split or None for all).
# The synthetic figures are what reaches the mIoU stated in the README within the 5-minute budget.
DATASETS = {
    "synthetic": ("deeplabv3plus_mnv2_synthetic", 700, 50, None),
    "camvid": ("deeplabv3plus_mnv2_camvid", None, None, None),
}
SMOKE = {"train_steps": 3, "qat_steps": 2, "num_images": 6}
# The exports: (label, model dir key, quantization, output). The float and int8 scores files
# are what the Task Library / MediaPipe take; the int8 mask file is what the demo apps run fastest.
EXPORTS = (
    ("float32", "model", "none", "scores"),
    ("int8 QAT", "qat", "int8_qat", "scores"),
    ("int8 QAT mask", "qat", "int8_qat", "mask"),
)
ANDROID_ASSETS = "mobile/android/app/src/main/assets"


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """What the demo runs; None fields take the recorded run's value (on resume) or the dataset's default.

    Attributes:
      workdir: where everything goes; an existing demo there is resumed.
      dataset: "synthetic" (generated, no download) or a dataset with a converter, e.g. "camvid".
      data_dir: the dataset's folder (not for synthetic).
      experiment: registered experiment; default per dataset.
      train_steps / qat_steps: float training and QAT fine-tuning steps.
      num_images: synthetic: images per split; others: only the first N of each split.
      threads: LiteRT threads for evaluation and benchmarks.
      overlays: validation images shown side by side in the report.
      smoke: the experiment's smoke variant and a few steps (tests).
    """

    workdir: str = "deeplab_demo"
    dataset: str | None = None
    data_dir: str | None = None
    experiment: str | None = None
    train_steps: int | None = None
    qat_steps: int | None = None
    num_images: int | None = None
    threads: int = 2
    overlays: int = 4
    smoke: bool | None = None


# The options that define a run; the others (threads, overlays) only change how it is measured and shown.
RUN_FIELDS = ("dataset", "data_dir", "experiment", "train_steps", "qat_steps", "num_images", "smoke")


def resolve_options(options: DemoOptions, recorded: dict | None) -> DemoOptions:
    """Fills the None fields from the recorded run, else from the dataset's defaults.

    Raises:
      ValueError: an option given now contradicts the run recorded in the workdir;
        an unknown dataset; a dataset without data_dir; a non-positive count.
    """
    values = dataclasses.asdict(options)
    recorded = recorded or {}
    conflicts = [
        f"`{name}`={values[name]} (recorded: {recorded[name]})"
        for name in RUN_FIELDS
        if values[name] is not None and name in recorded and values[name] != recorded[name]
    ]
    if conflicts:
        raise ArgumentValueError(
            f"{options.workdir} holds a demo run with other options: {', '.join(conflicts)}; "
            "run without them to resume it, or pass another `workdir`"
        )
    for name in RUN_FIELDS:
        if values[name] is None and recorded.get(name) is not None:
            values[name] = recorded[name]
    values["dataset"] = values["dataset"] or "synthetic"
    values["smoke"] = bool(values["smoke"])
    dataset = values["dataset"]
    if dataset not in DATASETS and values["experiment"] is None:
        raise ArgumentValueError(f"`dataset`={dataset} has no demo default experiment; datasets: {', '.join(DATASETS)}")
    experiment, train_steps, qat_steps, num_images = DATASETS.get(dataset, (None, None, None, None))
    defaults = {"experiment": experiment, "train_steps": train_steps, "qat_steps": qat_steps, "num_images": num_images}
    if values["smoke"]:
        defaults.update(SMOKE)
    for name, value in defaults.items():
        if values[name] is None:
            values[name] = value
    if dataset != "synthetic" and not values["data_dir"]:
        raise ArgumentValueError(f"`dataset`={dataset} needs `data_dir`=DIR (the dataset's folder; see datasets/{dataset}/)")
    if dataset == "synthetic" and values["data_dir"]:
        raise ArgumentValueError("`data_dir` is for real datasets; the synthetic dataset is generated")
    if values["data_dir"]:
        values["data_dir"] = os.path.abspath(values["data_dir"])
    for name in ("train_steps", "qat_steps", "num_images", "threads", "overlays"):
        if values[name] is not None and values[name] < (0 if name == "overlays" else 1):
            raise ArgumentValueError(f"`{name}` must be positive, got {values[name]}")
    return DemoOptions(**values)


class Demo:
    """The demo's stages over one workdir; ``run()`` runs what is not done yet."""

    def __init__(self, options: DemoOptions, log: Callable[[str], None] | None = None):
        self.workdir = os.path.abspath(options.workdir)
        self.state_path = os.path.join(self.workdir, STATE_FILE)
        state = read_json(self.state_path)
        if state is not None and state.get("format") != STATE_FORMAT:
            raise ValueError(f"{self.state_path} is not a deeplab-demo state file (format {state.get('format')!r})")
        self.state = state or {"format": STATE_FORMAT, "options": None, "stages": {}}
        self.options = resolve_options(options, self.state["options"])
        self.log = log or (lambda text: print(text, flush=True))
        self.resumed: set[str] = set()  # stages done by an earlier run
        self.config = self._experiment()
        self.paths = {
            "records": os.path.join(self.workdir, "records"),
            "model": os.path.join(self.workdir, "model"),
            "qat": os.path.join(self.workdir, "qat"),
            "eval": os.path.join(self.workdir, "eval"),
            "export": os.path.join(self.workdir, "export"),
            "overlays": os.path.join(self.workdir, "overlays"),
            "report": os.path.join(self.workdir, "report.html"),
        }
        self.stages = [
            (
                "data",
                "generate and convert the data" if self.options.dataset == "synthetic" else "convert the data",
                self.stage_data,
            ),
            ("train", "train the float model", self.stage_train),
            ("evaluate", "evaluate the float model", self.stage_evaluate),
            ("qat", "fine-tune quantization-aware", self.stage_qat),
            ("export", "export float and int8 .tflite with metadata and model card", self.stage_export),
            ("measure", "evaluate and benchmark the .tflite files", self.stage_measure),
            ("overlays", "write prediction overlays", self.stage_overlays),
            ("report", "write report.html", self.stage_report),
        ]

    # --- set-up ------------------------------------------------------------------

    def _experiment(self) -> ExperimentConfig:
        options = self.options
        config = get_experiment(options.experiment, smoke=options.smoke)
        overrides = {"data.data_dir": os.path.join(self.workdir, "records")}
        if options.train_steps is not None:
            overrides["train.train_steps"] = options.train_steps
            # about six points on the learning curve, and a checkpoint at each (resume loses little)
            every = max(1, options.train_steps // 6)
            overrides["train.eval_every"] = every
            overrides["train.checkpoint_every"] = every
            overrides["train.warmup_steps"] = min(config.train.warmup_steps, options.train_steps // 4)
        if options.qat_steps is not None:
            overrides["quant.train_steps"] = options.qat_steps
        return override(config, overrides)

    def _save_state(self) -> None:
        write_json_atomic(self.state_path, self.state)

    # --- running -----------------------------------------------------------------

    def run(self) -> dict:
        """Runs every stage not recorded as done; returns the state (options + stage results)."""
        os.makedirs(self.workdir, exist_ok=True)
        self.state["options"] = {name: getattr(self.options, name) for name in RUN_FIELDS}
        self._save_state()
        start = time.perf_counter()
        total = len(self.stages)
        for index, (name, title, stage) in enumerate(self.stages, 1):
            done = self.state["stages"].get(name)
            if done is not None:
                self.log(f"[{index}/{total}] {title}: done before ({done['seconds']:.0f} s), skipped")
                self.resumed.add(name)
                continue
            self.log(f"[{index}/{total}] {title} ... ({_clock(time.perf_counter() - start)} elapsed)")
            began = time.perf_counter()
            result = stage()
            seconds = time.perf_counter() - began
            self.state["stages"][name] = {"seconds": round(seconds, 2), "result": result}
            self._save_state()
            self.log(f"[{index}/{total}] {title}: {seconds:.0f} s")
        self.log(f"demo done in {_clock(time.perf_counter() - start)} (this run)")
        return self.state

    def result(self, stage: str) -> dict:
        return self.state["stages"][stage]["result"]

    # --- stages ------------------------------------------------------------------

    def stage_data(self) -> dict:
        options = self.options
        splits = [self.config.data.train_split, self.config.data.eval_split]
        size = tuple(self.config.model.input_size) if options.dataset == "synthetic" else None  # generated at size
        summary = convert(options.dataset, options.data_dir, self.paths["records"], splits, options.num_images, size)
        return {split: {"images": value["images"]} for split, value in summary["splits"].items()}

    def _train(self, model_dir: str, qat_from: str | None = None) -> dict:
        result = train(self.config, model_dir, qat_from=qat_from)
        if result["stopped_by_signal"]:
            raise KeyboardInterrupt(f"stopped at step {result['step']} (checkpoint saved); run again to resume")
        return {
            "steps": result["step"],
            "loss": result["loss"],
            "images_per_second": result["images_per_second"],
            "best": result["best"],
        }

    def stage_train(self) -> dict:
        return self._train(self.paths["model"])

    def stage_evaluate(self) -> dict:
        config = self.config
        checkpoint = find_checkpoint(self.paths["model"])
        size = default_eval_size(config.data)
        model, model_config = load_trained_model(config.model, checkpoint, size)
        names, colors = class_names_and_colors(config.data.dataset, config.model.num_classes, config.data.data_dir)
        preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
        result = evaluate(model, model_config, config.data, preprocessing, size, class_names=names)
        report = {"experiment": config.name, "checkpoint": checkpoint, "class_names": names, **result}
        paths = write_report(os.path.join(self.paths["eval"], "float_keras_val.json"), report, names, colors)
        self.log(f"  float model (Keras, {checkpoint}): val mIoU {result['miou']:.2%}")
        return {"checkpoint": checkpoint, "report": paths["json"], **_metrics(result)}

    def stage_qat(self) -> dict:
        return self._train(self.paths["qat"], qat_from=self.paths["model"])

    def stage_export(self) -> dict:
        files = {}
        for label, source, quantization, output in EXPORTS:
            options = ExportOptions(
                quantization=quantization, output=output, evaluate=True, latency_threads=self.options.threads
            )
            exported = export_model(self.paths[source], self.paths["export"], options)
            card = exported["card"]
            self.log(
                f"  {label}: {exported['files']['model']} ({card['size_bytes'] / 1e6:.2f} MB, "
                f"val mIoU {card['metrics']['miou']:.2%})"
            )
            files[label] = exported["files"]
        return {"files": files}

    def stage_measure(self) -> dict:
        measured = {}
        for label, files in self.result("export")["files"].items():
            path = files["model"]
            report, colors = evaluate_tflite_file(
                path, self.paths["records"], self.config.data.eval_split, self.options.threads
            )
            stem = os.path.basename(path).removesuffix(".tflite")
            json_path = os.path.join(self.paths["eval"], f"{stem}_val.json")
            write_report(json_path, report, report["class_names"], colors)
            bench = benchmark_tflite(path, threads=(self.options.threads,), runs=20)
            xnnpack = _xnnpack_run(bench)
            self.log(
                f"  {label}: val mIoU {report['miou']:.2%}, {xnnpack['median_ms']:.2f} ms "
                f"(XNNPACK, {self.options.threads} threads), {bench['delegation']['fraction']:.0%} of ops delegated"
            )
            measured[label] = {"report": json_path, "metrics": _metrics(report), "benchmark": bench}
        return measured

    def _samples(self, count: int):
        """The first ``count`` validation images and labels, as stored."""
        import tensorflow as tf

        files = list_record_files(self.paths["records"], self.config.data.eval_split)
        for record in tf.data.TFRecordDataset(files).take(count):
            sample = parse_example(record)
            yield sample["filename"].numpy().decode(), sample["image"].numpy(), sample["label"].numpy()[..., 0]

    def stage_overlays(self) -> dict:
        files = self.result("export")["files"]
        predictors = {}
        for label, paths in files.items():
            described = describe_tflite(paths["model"])
            predictors[label] = TFLitePredictor(
                described["tflite_bytes"],
                described["preprocessing"],
                len(described["class_names"]),
                self.options.threads,
            )
        _, colors = class_names_and_colors(self.config.data.dataset, self.config.model.num_classes)
        os.makedirs(self.paths["overlays"], exist_ok=True)
        arrays, written = {}, []
        for index, (name, image, label) in enumerate(self._samples(self.options.overlays)):
            masks = {key: predictor.mask(image) for key, predictor in predictors.items()}
            arrays[f"{index}/name"] = np.asarray(name)
            arrays[f"{index}/image"], arrays[f"{index}/label"] = image, label
            for key, mask in masks.items():
                arrays[f"{index}/prediction/{key}"] = mask
                path = os.path.join(self.paths["overlays"], f"{index:02d}_{_slug(key)}.png")
                write_png(path, comparison_strip(image, label, mask, colors))
                written.append(path)
        archive = os.path.join(self.paths["overlays"], "samples.npz")
        write_npz_atomic(archive, arrays)
        return {"samples": archive, "pngs": written}

    def stage_report(self) -> dict:
        summary = self.summary()
        demo_report.write_report(self.paths["report"], summary)
        return {"report": self.paths["report"]}

    # --- the report's content ----------------------------------------------------

    def summary(self) -> dict:
        config = self.config
        names, colors = class_names_and_colors(config.data.dataset, config.model.num_classes)
        train_curve = _scalars(os.path.join(self.paths["model"], "train"), "loss")
        float_steps = self.result("train")["steps"]
        qat_curve = [
            [step + float_steps, value] for step, value in _scalars(os.path.join(self.paths["qat"], "train"), "loss")
        ]
        exports = []
        exported = self.result("export")["files"]
        quantizations = {label: quantization for label, _, quantization, _ in EXPORTS}
        for label, measured in self.result("measure").items():
            exports.append(
                {
                    "label": label,
                    "quantization": quantizations[label],
                    "file": exported[label]["model"],
                    "metrics": read_json(measured["report"]) or measured["metrics"],
                    "benchmark": measured["benchmark"],
                }
            )
        stages = [
            {
                "name": name,
                "seconds": self.state["stages"][name]["seconds"],
                "status": "resumed" if name in self.resumed else "ran",
            }
            for name, _, _ in self.stages
            if name in self.state["stages"]
        ]
        return {
            "title": f"deeplab_tf demo: {config.name} on {config.data.dataset}",
            "experiment": config.name,
            "dataset": config.data.dataset,
            "input_size": list(config.model.input_size),
            "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}, Python "
            f"{platform.python_version()}",
            "workdir": self.workdir,
            "stages": stages,
            "class_names": names,
            "colors": [list(c) for c in colors],
            "curve": {
                "train": train_curve,
                "val": _scalars(os.path.join(self.paths["model"], "eval"), "val/miou"),
                "qat": qat_curve,
            },
            "float_eval": self.result("evaluate"),
            "exports": exports,
            "baseline": EXPORTS[0][0],
            "headline": EXPORTS[1][0],
            "overlays": _load_overlays(self.result("overlays")["samples"]),
            "next_steps": self.next_steps(),
            "files": self.files(),
        }

    def fastest_int8(self) -> tuple[str, str]:
        """(label, output) of the int8 export that ran fastest here (XNNPACK median): the mask
        file's ARG_MAX runs outside XNNPACK, so at a small input the scores file can be faster."""
        measured = self.result("measure")
        candidates = [(label, output) for label, _, quantization, output in EXPORTS if quantization != "none"]
        return min(candidates, key=lambda item: _xnnpack_run(measured[item[0]]["benchmark"])["median_ms"])

    def android_command(self) -> str:
        _, output = self.fastest_int8()
        return (
            f"deeplab-export --model_dir={self.paths['qat']} --output_dir={self.paths['export']} "
            f"--quantization=int8_qat --output={output} --android_assets={ANDROID_ASSETS}"
        )

    def android_reason(self) -> str:
        """Why the command exports what it does, in the figures just measured."""
        measured = self.result("measure")
        fastest, output = self.fastest_int8()
        times = {
            label: _xnnpack_run(measured[label]["benchmark"])["median_ms"]
            for label, _, quantization, _ in EXPORTS
            if quantization != "none"
        }
        others = ", ".join(f"{label} {ms:.2f} ms" for label, ms in times.items() if label != fastest)
        return f"the {output} output ran fastest here: {fastest} {times[fastest]:.2f} ms against {others}"

    def next_steps(self) -> list[dict]:
        records, model = self.paths["records"], self.paths["model"]
        fastest = self.result("export")["files"][self.fastest_int8()[0]]["model"]
        return [
            {
                "text": "Drop the int8 model into the Android demo app (then build mobile/android in Android Studio; "
                f"{self.android_reason()})",
                "command": self.android_command(),
            },
            {
                "text": "Run the int8 model on your own images (mobile/native's runner, or the LiteRT interpreter)",
                "command": f"deeplab-predict --model_dir={model} --input=IMAGE_OR_DIR --output_dir=predictions",
            },
            {
                "text": "Benchmark the int8 file at 1, 2 and 4 threads",
                "command": f"deeplab-bench tflite --model={fastest} --threads=1,2,4",
            },
            {
                "text": "Evaluate with multi-scale and flip inference",
                "command": f"deeplab-eval --model_dir={model} --data_dir={records} --split=val --scales=0.75,1.0,1.25 --flip",
            },
            {"text": "Look at training in TensorBoard", "command": f"tensorboard --logdir={self.workdir}"},
        ]

    def files(self) -> list[dict]:
        entries = [
            ("TFRecords", self.paths["records"]),
            ("float model (checkpoints, TensorBoard)", self.paths["model"]),
            ("QAT model", self.paths["qat"]),
            ("evaluation reports", self.paths["eval"]),
        ]
        for label, paths in self.result("export")["files"].items():
            entries.append((f"{label} .tflite", paths["model"]))
            entries.append((f"{label} model card", paths["card"]))
        entries.append(("overlays", self.paths["overlays"]))
        entries.append(("this report", self.paths["report"]))
        return [{"label": label, "path": path} for label, path in entries]


# --- helpers ------------------------------------------------------------------


def _metrics(result: dict) -> dict:
    keys = (
        "miou",
        "per_class_iou",
        "pixel_accuracy",
        "mean_accuracy",
        "frequency_weighted_iou",
        "present_classes",
        "num_pixels",
        "num_images",
    )
    return {key: result[key] for key in keys if key in result}


def _xnnpack_run(benchmark: dict) -> dict:
    return next(run for run in benchmark["runs"] if run["xnnpack"])


def _clock(seconds: float) -> str:
    return time.strftime("%M:%S" if seconds < 3600 else "%H:%M:%S", time.gmtime(seconds))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def _scalars(folder: str, tag: str) -> list[list[float]]:
    """[[step, value], ...] of a TensorBoard scalar in the event files of ``folder`` (last value per step)."""
    import tensorflow as tf

    values = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    number = value.simple_value if value.HasField("simple_value") else tf.make_ndarray(value.tensor)
                    values[int(event.step)] = float(number)
    return [[step, values[step]] for step in sorted(values)]


def _load_overlays(path: str) -> list[dict]:
    with np.load(path) as archive:
        data = {key: archive[key] for key in archive.files}
    samples = []
    for index in sorted({int(key.split("/")[0]) for key in data}):
        prefix = f"{index}/prediction/"
        samples.append(
            {
                "name": str(data[f"{index}/name"]),
                "image": data[f"{index}/image"],
                "ground_truth": data[f"{index}/label"],
                "predictions": {key[len(prefix) :]: value for key, value in data.items() if key.startswith(prefix)},
            }
        )
    return samples


def run_demo(options: DemoOptions) -> Demo:
    """Runs (or resumes) the demo and prints where everything is; returns the Demo."""
    demo = Demo(options)
    demo.run()
    print_summary(demo)
    return demo


def print_summary(demo: Demo, stream=None) -> None:
    stream = stream or sys.stdout
    measured = demo.result("measure")
    lines = ["", f"float vs int8 ({demo.config.name}, val split):"]
    for label, entry in measured.items():
        xnnpack = _xnnpack_run(entry["benchmark"])
        lines.append(
            f"  {label:<14} mIoU {entry['metrics']['miou']:.2%}  {xnnpack['median_ms']:7.2f} ms  "
            f"{entry['benchmark']['size_bytes'] / 1e6:6.2f} MB"
        )
    lines += ["", "files:"]
    lines += [f"  {entry['label']:<40} {entry['path']}" for entry in demo.files()]
    lines += [
        "",
        f"report: {demo.paths['report']}",
        "",
        f"next: drop the int8 model into the Android app ({demo.android_reason()}):",
        f"  {demo.android_command()}",
    ]
    print("\n".join(lines), file=stream, flush=True)
