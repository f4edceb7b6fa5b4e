"""deeplab-demo at smoke size: the whole flow (data -> train -> eval -> QAT -> float and
int8 exports -> their evaluation and benchmark -> overlays -> report.html) runs once, is
interrupted after three stages, and resumes from there; options are checked up front."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from deeplab_tf.demo.pipeline import STATE_FILE, Demo, DemoOptions, resolve_options

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_demo_cli(*args, timeout=1500):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "deeplab_tf.cli.demo", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


# --- options (no TensorFlow work) ---------------------------------------------------


def test_defaults_are_the_synthetic_demo():
    options = resolve_options(DemoOptions(workdir="w"), None)
    assert (options.dataset, options.experiment) == ("synthetic", "deeplabv3plus_mnv2_synthetic")
    assert options.train_steps > options.qat_steps > 0 and options.smoke is False and options.data_dir is None


def test_resume_takes_the_recorded_options_and_refuses_contradicting_ones():
    recorded = {"dataset": "synthetic", "train_steps": 7, "qat_steps": 3, "smoke": True, "data_dir": None}
    options = resolve_options(DemoOptions(workdir="w"), recorded)
    assert (options.train_steps, options.qat_steps, options.smoke) == (7, 3, True)
    with pytest.raises(ValueError, match=r"train_steps=9 \(recorded: 7\).*another workdir$"):
        resolve_options(DemoOptions(workdir="w", train_steps=9), recorded)


@pytest.mark.parametrize(
    "options, message",
    [
        (DemoOptions(dataset="camvid"), "dataset=camvid needs data_dir=DIR"),
        (DemoOptions(data_dir="/tmp"), "^data_dir is for real datasets"),
        (DemoOptions(dataset="nosuch"), "^dataset=nosuch has no demo default experiment"),
        (DemoOptions(train_steps=0), "^train_steps must be positive"),
        (DemoOptions(threads=0), "^threads must be positive"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        resolve_options(options, None)


def test_a_workdir_with_a_foreign_state_file_is_refused(tmp_path):
    (tmp_path / STATE_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a deeplab-demo state file"):
        Demo(DemoOptions(workdir=str(tmp_path)))


# --- the flow -------------------------------------------------------------------------


class Interrupted(Exception):
    pass


def test_smoke_demo_runs_resumes_and_writes_the_report(tmp_path):
    workdir = tmp_path / "demo"
    demo = Demo(DemoOptions(workdir=str(workdir), smoke=True), log=lambda text: None)

    def interrupted():
        raise Interrupted  # as if the process were killed while fine-tuning

    demo.stages = [(name, title, interrupted if name == "qat" else stage) for name, title, stage in demo.stages]
    with pytest.raises(Interrupted):
        demo.run()
    state = json.loads((workdir / STATE_FILE).read_text())
    assert list(state["stages"]) == ["data", "train", "evaluate"]
    assert state["options"]["smoke"] is True and (workdir / "model" / "best.json").exists()

    # Resume through the command line, without repeating the options: the recorded run goes on.
    result = run_demo_cli(f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for stage in ("generate and convert the data", "train the float model", "evaluate the float model"):
        assert f"{stage}: done before" in out
    assert "fine-tune quantization-aware ..." in out and "report: " in out

    state = json.loads((workdir / STATE_FILE).read_text())
    assert list(state["stages"]) == ["data", "train", "evaluate", "qat", "export", "measure", "overlays", "report"]
    measured = state["stages"]["measure"]["result"]
    # The closing command exports the int8 output that ran faster here.
    ms = {label: next(r for r in measured[label]["benchmark"]["runs"] if r["xnnpack"])["median_ms"]
          for label in ("int8 QAT", "int8 QAT mask")}  # fmt: skip
    faster = "mask" if ms["int8 QAT mask"] <= ms["int8 QAT"] else "scores"
    command = f"deeplab-export --model_dir={workdir}/qat --output_dir={workdir}/export --quantization=int8_qat"
    assert f"{command} --output={faster} --android_assets=mobile/android/app/src/main/assets" in out
    assert f"the {faster} output ran fastest here" in out
    assert set(measured) == {"float32", "int8 QAT", "int8 QAT mask"}
    sizes = {label: entry["benchmark"]["size_bytes"] for label, entry in measured.items()}
    assert sizes["int8 QAT"] < 0.6 * sizes["float32"]
    for entry in measured.values():
        assert 0 <= entry["metrics"]["miou"] <= 1
        assert entry["benchmark"]["delegation"]["fraction"] > 0.9
    for files in state["stages"]["export"]["result"]["files"].values():
        card = json.loads(pathlib.Path(files["card"]).read_text())
        assert card["metrics"]["miou"] is not None and card["latency_ms"]["threads"] == 2
        assert pathlib.Path(files["model"]).stat().st_size == card["size_bytes"]
    assert (workdir / "qat" / "experiment.json").exists()
    overlays = state["stages"]["overlays"]["result"]["pngs"]
    assert overlays and all(pathlib.Path(path).exists() for path in overlays)

    html = (workdir / "report.html").read_text()
    assert "deeplabv3plus_mnv2_synthetic" in html and "int8 QAT mask" in html and "data:image/png;base64," in html
    assert "resumed" in html  # the three stages of the first run
    assert "src=\"http" not in html and "<script src" not in html

    # A contradicting option on resume: a clear error, nothing touched.
    before = (workdir / STATE_FILE).read_text()
    result = run_demo_cli(f"--workdir={workdir}", "--train_steps=50", timeout=300)
    assert result.returncode == 1 and "--train_steps=50 (recorded: 3)" in result.stderr
    assert (workdir / STATE_FILE).read_text() == before
