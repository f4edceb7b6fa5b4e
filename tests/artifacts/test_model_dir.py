"""ModelDir: a run folder's layout, the best-else-latest rule, where the weights came from."""

import os

import pytest
import tensorflow as tf

from deeplab_tf.artifacts.model_dir import ModelDir, checkpoint_step


def _save(folder, step: int) -> str:
    return tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)), folder, max_to_keep=3).save(step)


def test_best_else_latest_checkpoint(tmp_path):
    run = ModelDir(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="run does not exist"):
        run.trained_checkpoint()
    os.makedirs(run.path)
    assert run.best_or_latest_checkpoint() is None and run.list_checkpoints() == []
    with pytest.raises(FileNotFoundError, match=r"no checkpoint in .*best or .*ckpt"):
        run.trained_checkpoint()
    _save(run.checkpoint_dir("ckpt"), 3)
    _save(run.checkpoint_dir("ckpt"), 5)
    assert checkpoint_step(run.trained_checkpoint()) == 5  # no best yet: the latest
    _save(run.checkpoint_dir("best"), 3)
    assert run.trained_checkpoint() == os.path.join(run.path, "best", "ckpt-3")
    assert [checkpoint_step(p) for p in run.list_checkpoints()] == [3, 5]
    with pytest.raises(ValueError, match="which must be 'ckpt' or 'best'"):
        run.latest_checkpoint("eval")


def test_experiment_record_keeps_the_qat_section_apart(tmp_path):
    run = ModelDir(tmp_path)
    assert not run.has_experiment()
    with pytest.raises(FileNotFoundError, match="not a model_dir of deeplab-train"):
        run.experiment_record()
    run.write_experiment_record({"name": "float"})
    assert run.experiment_record() == {"name": "float"} and run.qat_origin() is None
    origin = {"float_model_dir": "/runs/float", "float_checkpoint": "/runs/float/best/ckpt-9"}
    run.write_experiment_record({"name": "qat"}, origin)
    assert run.experiment_record() == {"name": "qat"} and run.qat_origin() == origin
    run.write_best({"step": 9, "miou": 0.5})
    assert run.read_best() == {"step": 9, "miou": 0.5}
    assert sorted(os.listdir(tmp_path)) == ["best.json", "experiment.json"]


def test_weights_origin_follows_init_from_and_qat(tmp_path):
    imported, tuned, qat = (ModelDir(tmp_path / name) for name in ("imported", "tuned", "qat"))
    imported.write_import_record({"source": "/zoo/model.tar.gz", "member": "ckpt", "sha256": "ab", "license": "X"})
    tuned.write_init_from({"init_from": imported.path, "kind": None})
    qat.write_experiment_record({}, {"float_model_dir": tuned.path, "float_checkpoint": "c"})
    expected = {"source": "model.tar.gz:ckpt", "sha256": "ab", "license": "X"}
    assert imported.weights_origin() == tuned.weights_origin() == qat.weights_origin() == expected
    assert ModelDir(tmp_path / "scratch").weights_origin() is None
