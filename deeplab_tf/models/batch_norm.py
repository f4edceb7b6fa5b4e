"""Batch norms that deeplab-import made of a .tflite's folded ones, given real statistics.

A float .tflite has batch norm folded into its convolutions; imported, each becomes an identity
batch norm (``y = x + beta``). That computes right in inference, but in training mode a batch norm
normalizes by its batch's statistics: every layer's output would be rescaled at the first step and
the imported network lost. ``unfold_batch_norms`` gives each one the statistics of its input on real
images, computing the same function, so that training (float, QAT) starts from the imported network.
"""

from __future__ import annotations

import numpy as np
import tf_keras as keras


def folded_batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The identity batch norms that deeplab-import makes of a folded source (gamma 1, mean 0,
    variance 1 - epsilon: ``y = x + beta``); a trained batch norm never has exactly these values."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, mean, variance = (v.numpy() for v in (layer.gamma, layer.moving_mean, layer.moving_variance))
            if np.all(gamma == 1) and np.all(mean == 0) and np.all(variance == np.float32(1 - layer.epsilon)):
                found.append(layer)
    return found


def unfold_batch_norms(model: keras.Model, layers, batches) -> None:
    """Gives each identity batch norm ``y = x + beta`` the statistics of its input ``x`` on real
    batches (per channel mean m, variance v) without changing what it computes: moving mean m,
    moving variance v, gamma sqrt(v + eps), beta + m. In training mode a batch then normalizes by
    statistics near these, so fine-tuning starts from the imported network instead of one whose
    every layer is rescaled by its batch statistics."""
    import tensorflow as tf

    probe = keras.Model(model.inputs, [layer.input for layer in layers])

    @tf.function
    def moments(images):
        outputs = probe(images, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [(tf.reduce_mean(tf.cast(x, tf.float64), [0, 1, 2]), tf.reduce_mean(tf.square(tf.cast(x, tf.float64)), [0, 1, 2]))
                for x in outputs]  # fmt: skip

    sums, count = None, 0
    for images in batches:
        found = [(m.numpy(), s.numpy()) for m, s in moments(images)]
        sums = found if sums is None else [(a + m, b + s) for (a, b), (m, s) in zip(sums, found, strict=True)]
        count += 1
    if not count:
        raise ValueError("unfolding batch norms needs at least one batch of images")
    for layer, (mean_sum, square_sum) in zip(layers, sums, strict=True):
        mean = mean_sum / count
        variance = np.maximum(square_sum / count - mean**2, 0.0)
        gamma = np.sqrt(variance + layer.epsilon)
        beta = layer.beta.numpy().astype(np.float64) + mean
        layer.set_weights([a.astype(np.float32) for a in (gamma, beta, mean, variance)])
