"""The compiled training step shared by the trainer and the benchmarks."""

from __future__ import annotations

import tensorflow as tf

from deeplab_tf.training.losses import softmax_cross_entropy


def make_train_step(model, optimizer, ignore_label: int, class_weights=None, jit_compile: bool = False):
    """Returns ``step(images, labels) -> loss``: forward, loss (plus the model's
    regularisation losses), backward and an optimizer update, as one tf.function.

    Args:
      model: a Keras model producing logits.
      optimizer: a Keras optimizer.
      ignore_label: label value left out of the loss.
      class_weights: optional per-class loss weights.
      jit_compile: compile the step with XLA.
    """

    @tf.function(jit_compile=jit_compile)
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = softmax_cross_entropy(labels, logits, ignore_label, class_weights)
            total = loss + tf.add_n(model.losses) if model.losses else loss
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step
