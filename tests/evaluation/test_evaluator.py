import dataclasses

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.configs import get_experiment
from deeplab_tf.data.pipeline import eval_dataset
from deeplab_tf.data.schema import make_example
from deeplab_tf.evaluation.evaluator import (
    StretchPredictor,
    build_scaled_models,
    default_eval_size,
    evaluate,
    evaluate_predictions,
    letterbox,
    make_predict_fn,
    parse_scales,
    predict_logits,
    predict_mask,
    scaled_size,
    with_sizes,
)
from deeplab_tf.evaluation.metrics import ConfusionMatrix
from deeplab_tf.models import build_deeplab, get_backbone_spec

IGNORE = 255
SIZE = (65, 65)


@pytest.fixture(scope="module")
def config():
    return get_experiment("deeplabv3plus_mnv2_synthetic", smoke=True)


@pytest.fixture(scope="module")
def model(config):
    return build_deeplab(config.model)


def images(batch=2, size=SIZE, seed=0):
    return tf.constant(np.random.RandomState(seed).uniform(-1, 1, (batch, *size, 3)), tf.float32)


def conv_model(size, kernel=1, seed=0, classes=4):
    """A conv-only model: exactly flip-equivariant with a 1x1 kernel."""
    inputs = keras.Input((*size, 3), name="image")
    layer = keras.layers.Conv2D(classes, kernel, padding="same", name="logits")
    model = keras.Model(inputs, layer(inputs))
    rng = np.random.RandomState(seed)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def test_single_scale_without_flip_is_a_plain_forward_pass(config, model):
    x = images()
    expected = model(x, training=False).numpy()
    np.testing.assert_array_equal(predict_logits({1.0: model}, x).numpy(), expected)
    np.testing.assert_allclose(make_predict_fn({1.0: model})(x).numpy(), expected, atol=1e-5)


def test_flip_is_identity_for_a_flip_equivariant_model():
    model = conv_model(SIZE)
    x = images()
    plain = predict_logits({1.0: model}, x, flip=False).numpy()
    np.testing.assert_allclose(predict_logits({1.0: model}, x, flip=True).numpy(), plain, atol=1e-6)


def test_flip_averages_with_the_flipped_back_prediction():
    model = conv_model(SIZE, kernel=3, seed=1)  # not flip-equivariant
    x = images()
    plain = model(x).numpy()
    mirrored = model(x[:, :, ::-1]).numpy()[:, :, ::-1]
    assert np.abs(plain - mirrored).max() > 1e-3
    np.testing.assert_allclose(predict_logits({1.0: model}, x, flip=True).numpy(), (plain + mirrored) / 2, atol=1e-5)


def test_scaled_models_share_weights_and_logits_come_back_at_input_size(config, model):
    scales = (0.75, 1.0, 1.25)
    models = build_scaled_models(model, config.model, SIZE, scales)
    assert models[1.0] is model
    assert {s: tuple(m.input_shape[1:3]) for s, m in models.items()} == {0.75: (49, 49), 1.0: SIZE, 1.25: (81, 81)}
    for scaled in models.values():
        for a, b in zip(scaled.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    x = images(batch=1)
    for scale in (0.75, 1.25):
        logits = predict_logits(models, x, (scale,), flip=True)
        assert logits.shape == (1, *SIZE, config.model.num_classes)
    both = predict_logits(models, x, (0.75, 1.25)).numpy()
    each = [predict_logits(models, x, (s,)).numpy() for s in (0.75, 1.25)]
    np.testing.assert_allclose(both, (each[0] + each[1]) / 2, atol=1e-5)


def test_multi_scale_of_a_constant_image_through_a_1x1_model_changes_nothing():
    models = {s: conv_model(scaled_size(SIZE, s)) for s in (0.75, 1.0, 1.25)}
    x = tf.fill((1, *SIZE, 3), 0.3)
    single = predict_logits(models, x, (1.0,)).numpy()
    np.testing.assert_allclose(predict_logits(models, x, (0.75, 1.0, 1.25), flip=True).numpy(), single, atol=1e-5)


def test_parse_scales():
    assert parse_scales("0.75, 1.0,1.25") == (0.75, 1.0, 1.25)
    for bad in ("", "a", "1,-1"):
        with pytest.raises(ValueError, match="scales"):
            parse_scales(bad)


def fake_batches():
    """Labels that are NOT ignore-padded, so only cropping keeps the padding out."""
    label = np.zeros((2, 6, 8, 1), np.uint8)
    label[0, :4, :5] = 1
    label[1, :3, :8] = 2
    return [
        {
            "image": np.zeros((2, 6, 8, 3), np.float32),
            "label": label,
            "height": np.array([4, 3]),
            "width": np.array([5, 8]),
        }
    ]


def test_evaluate_predictions_crops_to_each_images_size():
    def predict_fn(batch):  # predicts each image's own class everywhere
        logits = np.zeros((*batch.shape[:3], 3), np.float32)
        logits[0, ..., 1] = logits[1, ..., 2] = 1
        return logits

    result = evaluate_predictions(predict_fn, fake_batches(), 3, IGNORE, ["a", "b", "c"])
    assert result["num_pixels"] == 4 * 5 + 3 * 8 and result["num_images"] == 2
    assert result["miou"] == 1.0 and result["per_class_iou"]["a"] is None
    assert result["confusion_matrix"] == [[0, 0, 0], [0, 20, 0], [0, 0, 24]]
    assert result["images_per_second"] > 0
    with pytest.raises(ValueError, match="no images"):
        evaluate_predictions(predict_fn, [], 3, IGNORE)


def write_records(folder, sizes, classes, split="val"):
    rng = np.random.RandomState(0)
    with tf.io.TFRecordWriter(str(folder / f"{split}-00000-of-00001.tfrecord")) as writer:
        for i, (h, w) in enumerate(sizes):
            image = rng.randint(0, 256, (h, w, 3), dtype=np.uint8)
            label = rng.randint(0, classes, (h, w), dtype=np.uint8)
            label[:2] = IGNORE
            example = make_example(
                cv2.imencode(".png", image)[1].tobytes(),
                "png",
                cv2.imencode(".png", label)[1].tobytes(),
                f"{i}.png",
                h,
                w,
            )
            writer.write(example.SerializeToString())


def test_evaluate_equals_a_plain_forward_pass_loop(config, model, tmp_path):
    sizes = [(40, 56), (65, 30), (20, 20)]
    write_records(tmp_path, sizes, config.model.num_classes)
    data = dataclasses.replace(config.data, data_dir=str(tmp_path))
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    result = evaluate(model, config.model, data, preprocessing, SIZE)

    expected = ConfusionMatrix(config.model.num_classes, IGNORE)
    for batch in eval_dataset(data, preprocessing, SIZE):
        predictions = np.argmax(model(batch["image"], training=False).numpy(), -1)
        for i, (h, w) in enumerate(zip(batch["height"].numpy(), batch["width"].numpy(), strict=True)):
            expected.update(batch["label"].numpy()[i, :h, :w, 0], predictions[i, :h, :w])
    assert result["num_images"] == 3 and result["eval_size"] == list(SIZE)
    assert result["num_pixels"] == sum((h - 2) * w for h, w in sizes)
    np.testing.assert_array_equal(result["confusion_matrix"], expected.matrix)
    assert result["miou"] == pytest.approx(expected.result()["miou"])
    assert evaluate(model, config.model, data, preprocessing, SIZE, max_batches=1)["num_images"] == data.batch_size


def test_default_eval_size_is_the_largest_image_unless_set(config, tmp_path):
    write_records(tmp_path, [(40, 90), (70, 30), (20, 20)], config.model.num_classes)
    data = dataclasses.replace(config.data, data_dir=str(tmp_path))
    assert default_eval_size(data) == (70, 90)
    assert default_eval_size(dataclasses.replace(data, eval_size=(100, 100))) == (100, 100)


def test_stretch_predictor_runs_each_image_at_the_model_size_and_resizes_back(config, model, tmp_path):
    sizes = [(90, 70), (65, 65), (40, 100)]
    write_records(tmp_path, sizes, config.model.num_classes)
    data = dataclasses.replace(config.data, data_dir=str(tmp_path), batch_size=3)
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    predictor = StretchPredictor(model)  # a fixed 65x65 model, as a QAT model is
    (batch,) = list(with_sizes(eval_dataset(data, preprocessing, (90, 100)), predictor))
    logits = predictor(batch["image"]).numpy()
    assert logits.shape == (3, 90, 100, config.model.num_classes)
    for i, (h, w) in enumerate(sizes):
        image = tf.image.resize(batch["image"][i : i + 1, :h, :w], SIZE)
        expected = tf.image.resize(model(image, training=False), (h, w)).numpy()[0]
        np.testing.assert_allclose(logits[i, :h, :w], expected, atol=1e-4)
        assert not logits[i, h:].any() and not logits[i, :, w:].any()  # the padding is left empty
    np.testing.assert_allclose(logits[1, :65, :65], model(batch["image"][1:2, :65, :65]).numpy()[0], atol=1e-4)


def test_letterbox_keeps_the_aspect_and_pads_with_the_mean():
    image = np.full((30, 60, 3), 200, np.uint8)
    canvas, inner = letterbox(image, (65, 65), (1.0, 2.0, 3.0))
    assert canvas.shape == (65, 65, 3) and inner == (32, 65)
    np.testing.assert_allclose(canvas[:32], 200)
    np.testing.assert_array_equal(canvas[32:], np.broadcast_to([1.0, 2.0, 3.0], (33, 65, 3)))


def test_predict_mask_undoes_the_letterbox():
    # Class 1 where red > green: the mask must follow the image at its own size.
    inputs = keras.Input((*SIZE, 3), name="image")
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="logits")(inputs))
    kernel = np.array([[[[-1.0, 1.0], [1.0, -1.0], [0.0, 0.0]]]], np.float32)  # [1, 1, in RGB, out classes]
    model.set_weights([kernel, np.zeros(2, np.float32)])
    image = np.zeros((30, 50, 3), np.uint8)
    image[:, :20] = (255, 0, 0)
    image[:, 20:] = (0, 255, 0)
    preprocessing = get_backbone_spec("mobilenet_v2").preprocessing
    mask = predict_mask(make_predict_fn({1.0: model}), image, SIZE, preprocessing)
    assert mask.shape == (30, 50) and mask.dtype == np.uint8
    assert (mask[:, :19] == 1).all() and (mask[:, 21:] == 0).all()
