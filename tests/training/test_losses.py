import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from deeplab_tf.configs import get_experiment
from deeplab_tf.models import build_deeplab
from deeplab_tf.training.losses import softmax_cross_entropy


def reference_loss(labels, logits, ignore):
    logits = logits - logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = labels != ignore
    picked = np.take_along_axis(log_probs, np.where(valid, labels, 0)[..., None], -1)[..., 0]
    return -(picked * valid).sum() / valid.sum()


def test_matches_numpy_and_skips_the_ignore_label():
    rng = np.random.RandomState(0)
    logits = rng.normal(size=(2, 5, 6, 4)).astype("float32")
    labels = rng.randint(0, 4, size=(2, 5, 6))
    labels[0, :2] = 255
    loss = softmax_cross_entropy(labels, logits, ignore_label=255).numpy()
    np.testing.assert_allclose(loss, reference_loss(labels, logits, 255), rtol=1e-5)
    # Changing logits under ignored pixels changes nothing.
    logits[0, :2] += 100.0
    np.testing.assert_allclose(softmax_cross_entropy(labels, logits, 255).numpy(), loss, rtol=1e-5)


def test_all_ignored_gives_zero_not_nan():
    loss = softmax_cross_entropy(np.full((1, 3, 3), 11), np.zeros((1, 3, 3, 11), "float32"), ignore_label=11)
    assert float(loss) == 0.0


def test_class_weights_and_hard_pixel_mining():
    rng = np.random.RandomState(1)
    logits = rng.normal(size=(1, 8, 8, 3)).astype("float32")
    labels = rng.randint(0, 3, size=(1, 8, 8))
    plain = float(softmax_cross_entropy(labels, logits, 255))
    assert float(softmax_cross_entropy(labels, logits, 255, class_weights=[1.0, 1.0, 1.0])) == pytest.approx(plain)
    assert float(softmax_cross_entropy(labels, logits, 255, top_k_fraction=0.25)) > plain


def test_one_training_step_lowers_the_loss():
    tf.keras.utils.set_random_seed(0)
    config = get_experiment("deeplabv3plus_mnv2_synthetic", smoke=True)
    model = build_deeplab(config.model)
    rng = np.random.RandomState(0)
    images = rng.uniform(-1, 1, (2, 65, 65, 3)).astype("float32")
    labels = (images[..., 0] > 0).astype("int32") * 2  # classes 0 and 2, learnable from colour
    labels[:, :5] = config.data.ignore_label
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9)

    def loss_value():
        return float(softmax_cross_entropy(labels, model(images, training=False), config.data.ignore_label))

    before = loss_value()
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = softmax_cross_entropy(labels, model(images, training=True), config.data.ignore_label)
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(g is not None for g in grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    assert loss_value() < before
