"""Test set-up: Keras 2 via deeplab_tf, quiet TensorFlow, tiers and shared-data paths."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

import deeplab_tf  # noqa: E402,F401  (selects Keras 2 before TensorFlow loads)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("DEEPLAB_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """../shared (real data, reference model); skips the test when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent")
    return SHARED


@pytest.fixture(autouse=True)
def _clear_keras_session():
    import tf_keras as keras

    yield
    keras.backend.clear_session()


def record_sample(index, size=(40, 56), classes=4, ignore=255):
    """The ``(image, label)`` that ``write_records`` writes as sample ``index`` (= seed * 1000 +
    shard * 100 + i): random RGB pixels, a label that is a function of the image (learnable),
    and an ignored band of two rows on top."""
    import numpy as np

    image = np.random.RandomState(index).randint(0, 256, (*size, 3), dtype=np.uint8)
    label = (image[..., 0].astype(np.int32) * classes // 256).astype(np.uint8)
    label[:2] = ignore
    return image, label


def write_records(folder, split="train", shards=2, per_shard=3, size=(40, 56), classes=4, ignore=255, seed=0):
    """Writes tiny ``{split}-*.tfrecord`` shards of ``record_sample``s."""
    import cv2
    import tensorflow as tf

    from deeplab_tf.data.schema import make_example

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        path = folder / f"{split}-{shard:05d}-of-{shards:05d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in range(per_shard):
                image, label = record_sample(seed * 1000 + shard * 100 + i, size, classes, ignore)
                example = make_example(
                    cv2.imencode(".png", image[..., ::-1])[1].tobytes(),
                    "png",
                    cv2.imencode(".png", label)[1].tobytes(),
                    f"{split}_{shard}_{i}.png",
                    *size,
                )
                writer.write(example.SerializeToString())
    return folder


@pytest.fixture
def records(tmp_path):
    """A folder with tiny train and val TFRecords (4 classes, ignore 255)."""
    folder = tmp_path / "records"
    write_records(folder, "train", shards=2, per_shard=4, size=(65, 65), classes=6)
    write_records(folder, "val", shards=1, per_shard=2, size=(65, 65), classes=6, seed=1)
    return folder
