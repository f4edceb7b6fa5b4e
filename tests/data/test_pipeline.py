import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from conftest import record_sample, write_records

from deeplab_tf.configs import DataConfig
from deeplab_tf.data import augment
from deeplab_tf.data.pipeline import eval_dataset, list_record_files, train_dataset
from deeplab_tf.data.schema import parse_example
from deeplab_tf.models.backbones.base import MINUS_ONE_TO_ONE, Preprocessing

IGNORE = 255
CLASSES = 4


def apply(fn, sample, mode):
    """Runs a stage eagerly or inside Dataset.map: the two must agree."""
    if mode == "eager":
        return {k: np.asarray(v) for k, v in fn(sample).items()}
    dataset = tf.data.Dataset.from_tensors(sample).map(fn)
    return {k: np.asarray(v) for k, v in next(iter(dataset)).items()}


def tensor_sample(seed=0, height=40, width=56):
    image, label = record_sample(seed, (height, width))
    return {"image": tf.constant(image, tf.float32), "label": tf.constant(label[..., None])}


MODES = ["eager", "map"]
SEED = tf.constant([1, 2], tf.int64)


@pytest.mark.parametrize("mode", MODES)
def test_parse_example_round_trips(mode, tmp_path):
    write_records(tmp_path, shards=1, per_shard=1)
    record = next(iter(tf.data.TFRecordDataset(str(tmp_path / "train-00000-of-00001.tfrecord"))))
    image, label = record_sample(0)
    out = apply(parse_example, record, mode)
    np.testing.assert_array_equal(out["image"], image)
    np.testing.assert_array_equal(out["label"][..., 0], label)


@pytest.mark.parametrize("mode", MODES)
def test_random_scale_resizes_labels_nearest(mode):
    sample = tensor_sample()
    out = apply(lambda s: augment.random_scale(s, SEED, 1.5, 1.5), sample, mode)
    assert out["image"].shape == (60, 84, 3) and out["label"].shape == (60, 84, 1)
    assert set(np.unique(out["label"])) <= set(range(CLASSES)) | {IGNORE}


@pytest.mark.parametrize("mode", MODES)
def test_padding_fills_image_with_mean_and_label_with_ignore(mode):
    sample = tensor_sample()
    out = apply(lambda s: augment.pad_to_size(s, (64, 64), (10.0, 20.0, 30.0), IGNORE), sample, mode)
    assert out["image"].shape == (64, 64, 3)
    np.testing.assert_array_equal(out["image"][40:, :, :], np.broadcast_to([10.0, 20.0, 30.0], (24, 64, 3)))
    assert (out["label"][40:] == IGNORE).all() and (out["label"][:, 56:] == IGNORE).all()
    np.testing.assert_array_equal(out["label"][:40, :56], sample["label"].numpy())


@pytest.mark.parametrize("mode", MODES)
def test_crop_and_flip_move_image_and_label_together(mode):
    # Label = a function of the image, so any misalignment shows.
    image = np.random.RandomState(3).randint(0, 256, (40, 56, 3)).astype(np.float32)
    sample = {"image": tf.constant(image), "label": tf.constant((image[..., :1] % 4).astype(np.uint8))}

    def stage(s):
        return augment.random_flip(augment.random_crop(s, SEED, (24, 32)), SEED)

    out = apply(stage, sample, mode)
    assert out["image"].shape == (24, 32, 3)
    np.testing.assert_array_equal(out["label"][..., 0], out["image"][..., 0] % 4)


@pytest.mark.parametrize("mode", MODES)
def test_full_augmentation_keeps_only_class_ids_and_ignore(mode):
    sample = tensor_sample()

    def stage(s):
        return augment.augment_for_training(s, SEED, (64, 64), 0.5, 2.0, (127.5,) * 3, IGNORE, jitter=0.3)

    for seed in range(5):
        out = apply(lambda s, seed=seed: stage({**s}), tensor_sample(seed), mode)
        assert out["image"].shape == (64, 64, 3) and out["label"].shape == (64, 64, 1)
        assert set(np.unique(out["label"])) <= set(range(CLASSES)) | {IGNORE}
        assert out["image"].min() >= 0 and out["image"].max() <= 255
    del sample


def test_eager_and_map_agree_exactly():
    def stage(s):
        return augment.augment_for_training(s, SEED, (48, 48), 0.5, 2.0, (127.5,) * 3, IGNORE, jitter=0.2)

    eager = apply(stage, tensor_sample(), "eager")
    mapped = apply(stage, tensor_sample(), "map")
    np.testing.assert_allclose(eager["image"], mapped["image"], atol=1e-4)
    np.testing.assert_array_equal(eager["label"], mapped["label"])


def test_ignore_region_survives_padding_and_cropping():
    image = np.full((20, 20, 3), 100, np.float32)
    label = np.zeros((20, 20, 1), np.uint8)
    label[:, :10] = IGNORE
    sample = {"image": tf.constant(image), "label": tf.constant(label)}
    padded = augment.pad_to_size(sample, (30, 30), (127.5,) * 3, IGNORE)
    cropped = augment.random_crop(padded, SEED, (30, 30))
    out = cropped["label"].numpy()
    assert (out[:20, :10] == IGNORE).all() and (out[:20, 10:20] == 0).all() and (out[20:] == IGNORE).all()


@pytest.mark.parametrize("mode", MODES)
def test_normalize_uses_the_backbone_preprocessing(mode):
    sample = {"image": tf.constant([[[0.0, 127.5, 255.0]]]), "label": tf.zeros((1, 1, 1), tf.uint8)}
    out = apply(lambda s: augment.normalize(s, MINUS_ONE_TO_ONE.mean, MINUS_ONE_TO_ONE.std), sample, mode)
    np.testing.assert_allclose(out["image"][0, 0], [-1.0, 0.0, 1.0])


def data_config(folder, **kw):
    return DataConfig(dataset="test", data_dir=str(folder), crop_size=(32, 48), batch_size=2, ignore_label=IGNORE, **kw)


def take(dataset, n):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(n)]


def test_train_dataset_same_seed_same_batches(tmp_path):
    config = data_config(write_records(tmp_path), photometric_jitter=0.2)
    first = take(train_dataset(config, MINUS_ONE_TO_ONE, seed=7, deterministic=True), 4)
    again = take(train_dataset(config, MINUS_ONE_TO_ONE, seed=7, deterministic=True), 4)
    other = take(train_dataset(config, MINUS_ONE_TO_ONE, seed=8, deterministic=True), 4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])
    assert any(not np.array_equal(a["image"], c["image"]) for a, c in zip(first, other, strict=True))
    batch = first[0]
    assert batch["image"].shape == (2, 32, 48, 3) and batch["image"].dtype == np.float32
    assert batch["label"].shape == (2, 32, 48, 1)
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert set(np.unique(np.concatenate([b["label"] for b in first]))) <= set(range(CLASSES)) | {IGNORE}


def test_train_dataset_shards_by_input_context(tmp_path):
    # No augmentation that changes pixels, so each pipeline's pixel values show which shard it read.
    config = data_config(write_records(tmp_path, shards=2, per_shard=2), min_scale=1.0, max_scale=1.0)
    config = dataclasses.replace(config, crop_size=(40, 56))
    seen = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline_id, num_replicas_in_sync=2)
        batches = take(train_dataset(config, MINUS_ONE_TO_ONE, input_context=context, deterministic=True), 4)
        assert batches[0]["image"].shape[0] == 1  # per-replica batch of a global 2
        seen.append({np.sort(b["image"].ravel())[::97].tobytes() for b in batches})
    assert len(seen[0]) == 2 and len(seen[1]) == 2 and not seen[0] & seen[1]
    too_many = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=0, num_replicas_in_sync=3)
    with pytest.raises(ValueError, match="2 shard file"):
        train_dataset(config, MINUS_ONE_TO_ONE, input_context=too_many)


def test_eval_dataset_pads_with_ignore_and_keeps_sizes(tmp_path):
    write_records(tmp_path, split="val", shards=1, per_shard=3)
    config = data_config(tmp_path)
    batches = take(eval_dataset(config, Preprocessing((0.0,) * 3, (1.0,) * 3), (48, 64)), 2)
    assert [len(b["image"]) for b in batches] == [2, 1]
    first = batches[0]
    assert first["image"].shape == (2, 48, 64, 3)
    assert (first["label"][:, 40:] == IGNORE).all() and (first["label"][:, :, 56:] == IGNORE).all()
    assert list(first["height"]) == [40, 40] and list(first["width"]) == [56, 56]
    image, label = record_sample(0)
    np.testing.assert_array_equal(first["image"][0, :40, :56], image.astype(np.float32))
    # Deterministic order: the same every time.
    again = take(eval_dataset(config, Preprocessing((0.0,) * 3, (1.0,) * 3), (48, 64)), 1)[0]
    np.testing.assert_array_equal(again["filename"], first["filename"])


def test_eval_image_larger_than_eval_size_names_the_file(tmp_path):
    write_records(tmp_path, split="val", shards=1, per_shard=1)
    dataset = eval_dataset(data_config(tmp_path), MINUS_ONE_TO_ONE, (32, 32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="val_0_0.png"):
        next(iter(dataset))


def test_missing_records_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecords match .*train-\\*.tfrecord; convert the dataset first"):
        list_record_files(str(tmp_path), "train")
    with pytest.raises(ValueError, match="data_dir is not set"):
        list_record_files(None, "train")
