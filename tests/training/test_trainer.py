import dataclasses
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.model_dir import ModelDir, restore_model
from deeplab_tf.configs import get_experiment, override
from deeplab_tf.configs.records import load_experiment
from deeplab_tf.models import build_deeplab
from deeplab_tf.training.trainer import NonFiniteLossError, train

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def smoke_config(records, steps=6, **changes):
    config = get_experiment("deeplabv3plus_mnv2_synthetic", smoke=True)
    values = {
        "data.data_dir": str(records),
        "train.train_steps": steps,
        "train.checkpoint_every": 2,
        "train.log_every": 1,
        "train.learning_rate": 0.05,
        "train.eval_every": -1,
    }
    values.update(changes)
    return override(config, values)


def weights_of(model_dir, config):
    model = build_deeplab(config.model)
    restore_model(model, ModelDir(model_dir).require_checkpoint())
    return model.get_weights()


def cli(*args):
    return [sys.executable, "-m", "deeplab_tf.cli.train", *args]


def cli_args(records, model_dir, steps=6):
    return [
        "--experiment=deeplabv3plus_mnv2_synthetic",
        "--smoke",
        f"--model_dir={model_dir}",
        f"--data_dir={records}",
        f"--train_steps={steps}",
        "--config=train.checkpoint_every=2",
        "--config=train.log_every=1",
        "--config=train.eval_every=-1",
        "--config=train.learning_rate=0.05",
        "--deterministic_ops",
    ]


def test_training_lowers_the_loss_and_writes_checkpoints_and_events(records, tmp_path):
    config = smoke_config(records, steps=12, **{"train.learning_rate": 0.1, "data.random_flip": "false"})
    model_dir = str(tmp_path / "run")
    generator = keras.backend.experimental.is_tf_random_generator_enabled()  # another test may have set it
    keras.utils.set_random_seed(3)
    seeded = build_deeplab(config.model).get_weights()
    losses = []
    for stop in (1, 12):
        losses.append(train(config, model_dir, stop_at_step=stop)["loss"])
    assert losses[1] < losses[0]
    # Training leaves the process as it found it: the same seed still builds the same model.
    assert keras.backend.experimental.is_tf_random_generator_enabled() == generator
    keras.utils.set_random_seed(3)
    for a, b in zip(build_deeplab(config.model).get_weights(), seeded, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ModelDir(model_dir).latest_checkpoint().endswith("ckpt-12")
    assert load_experiment(model_dir) == config
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(os.path.join(model_dir, "train")))


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(records, tmp_path):
    tf.config.experimental.enable_op_determinism()
    config = smoke_config(records, steps=6)
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train(config, straight)
    first = train(config, resumed, stop_at_step=3)
    assert first["step"] == 3
    second = train(config, resumed)
    assert second["start_step"] == 3 and second["step"] == 6
    for a, b in zip(weights_of(straight, config), weights_of(resumed, config), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sigkill_at_any_step_then_resume_gives_the_same_weights(records, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(cli(*cli_args(records, straight, steps=8)), check=True, env=ENV, capture_output=True, timeout=600)
    process = subprocess.Popen(cli(*cli_args(records, killed, steps=8)), env=ENV, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:  # kill right after step 5 (checkpoint 4 exists, step 5 is lost)
        if line.startswith("step 5/"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert ModelDir(str(killed)).latest_checkpoint().endswith("ckpt-4")
    result = subprocess.run(cli(*cli_args(records, killed, steps=8)), env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    again = subprocess.run(cli(*cli_args(records, killed, steps=8)), env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "already complete at step 8" in again.stdout and "nan" not in again.stdout
    config = smoke_config(records, steps=8)
    for a, b in zip(weights_of(str(straight), config), weights_of(str(killed), config), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sigterm_saves_a_checkpoint_before_exiting(records, tmp_path):
    model_dir = tmp_path / "run"
    process = subprocess.Popen(cli(*cli_args(records, model_dir, steps=1000)), env=ENV, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("step 3/"):
            process.send_signal(signal.SIGTERM)
            break
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 143  # scripts must not go on as if training had finished
    assert "stopped by signal" in output and "run the same command to resume" in output
    step = int(ModelDir(str(model_dir)).latest_checkpoint().rsplit("-", 1)[1])
    assert 3 <= step < 1000  # saved at the signal, not at a regular checkpoint (every 2)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(records, tmp_path):
    config = smoke_config(records, steps=50, **{"train.checkpoint_every": 1, "train.learning_rate": 1e30})
    model_dir = str(tmp_path / "run")
    with pytest.raises(NonFiniteLossError, match="(loss|weights) became (nan|inf|NaN)"):
        train(config, model_dir)
    last = ModelDir(model_dir).latest_checkpoint()
    assert last is not None
    assert all(np.isfinite(w).all() for w in weights_of(model_dir, config))


def test_model_dir_of_another_model_is_refused_and_untouched(records, tmp_path):
    model_dir = str(tmp_path / "run")
    train(smoke_config(records, steps=2), model_dir)
    before = open(os.path.join(model_dir, "experiment.json")).read()
    other = smoke_config(records, steps=2, **{"model.num_classes": 3})
    with pytest.raises(ValueError, match="holds a checkpoint of another model.*num_classes"):
        train(other, model_dir)
    assert open(os.path.join(model_dir, "experiment.json")).read() == before
    assert ModelDir(model_dir).latest_checkpoint().endswith("ckpt-2")


def test_data_dir_without_records_is_a_clear_error(tmp_path):
    config = smoke_config(tmp_path / "empty", steps=2)
    with pytest.raises(FileNotFoundError, match="no TFRecords match"):
        train(config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "experiment.json")


def test_cli_bad_input_is_one_line(records, tmp_path):
    result = subprocess.run(
        cli("--experiment=deeplabv3plus_mnv2_synthetic", "--smoke", f"--model_dir={tmp_path}/r", f"--data_dir={tmp_path}/none"),
        env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0 and "no TFRecords match" in result.stderr and "Traceback" not in result.stderr


def test_validation_keeps_the_best_checkpoint_with_class_names(records, tmp_path):
    model_dir = str(tmp_path / "run")
    train(smoke_config(records, steps=2, **{"train.eval_every": 2}), model_dir)
    with open(os.path.join(model_dir, "best.json")) as handle:
        best = json.load(handle)
    assert best["step"] == 2 and 0.0 <= best["miou"] <= 1.0
    assert list(best["per_class_iou"])[:2] == ["background", "disc"]  # names from the dataset registry
    assert ModelDir(model_dir).latest_checkpoint("best").endswith("ckpt-2")
    summaries = eval_summaries(model_dir)
    assert summaries["val/miou"] == [(2, pytest.approx(best["miou"]))]
    ((step, strips),) = summaries["val/predictions"]
    assert step == 2 and len(strips) == 2  # both validation images: image | ground truth | prediction
    for strip in strips:
        assert strip.shape == (65, 3 * 65 + 2 * 4, 3)
        assert (strip[:, 65:69] == 255).all()  # the white gap after the image
        ground_truth = strip[:, 69:134]
        assert (ground_truth[:2] == strip[:2, :65]).all()  # ignored rows stay uncoloured
        assert (ground_truth[2:] != strip[2:, :65]).any(axis=-1).mean() > 0.9  # labelled ones are coloured


def eval_summaries(model_dir):
    """{tag: [(step, scalar or list of decoded RGB images)]} from model_dir/eval's events."""
    folder = os.path.join(model_dir, "eval")
    found = {}
    for name in sorted(os.listdir(folder)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "images":  # width, height, PNG...
                    array = [tf.io.decode_png(png).numpy() for png in array[2:]]
                found.setdefault(value.tag, []).append((event.step, array if isinstance(array, list) else float(array)))
    return found


def test_validation_images_larger_than_the_crop_are_padded_to_the_largest(tmp_path):
    from conftest import write_records

    records = write_records(tmp_path / "records", "train", shards=1, per_shard=4, size=(65, 65), classes=6)
    write_records(records, "val", shards=1, per_shard=2, size=(90, 70), classes=6, seed=1)
    with pytest.raises(RuntimeError, match=r"image larger than the evaluation size.*pass a larger data.eval_size=H,W$"):
        train(smoke_config(records, steps=2, **{"train.eval_every": 2, "data.eval_size": "65,65"}), str(tmp_path / "a"))
    train(smoke_config(records, steps=2, **{"train.eval_every": 2}), str(tmp_path / "b"))  # data.eval_size unset
    ((_, strips),) = eval_summaries(str(tmp_path / "b"))["val/predictions"]
    assert strips[0].shape == (90, 3 * 70 + 2 * 4, 3)


def test_class_count_other_than_the_records_is_refused_before_training(records, tmp_path):
    from deeplab_tf.data.registry import get_dataset_info

    info = dataclasses.replace(get_dataset_info("synthetic"), class_names=("a", "b", "c", "d"), colormap=((0, 0, 0),) * 4)
    (records / "dataset.json").write_text(json.dumps({"dataset": info.to_dict(), "summary": {}}))
    with pytest.raises(ValueError, match=r"have 4 classes .*model.num_classes=6; pass model.num_classes=4 or"):
        train(smoke_config(records, steps=2), str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "experiment.json")
