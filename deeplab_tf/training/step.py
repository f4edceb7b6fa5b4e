"""The compiled training step shared by the trainer and the benchmarks.

Under a ``tf.distribute`` strategy with several replicas the step computes the
same update as one replica given the whole global batch:

- The optimizer sums gradients over replicas, so each replica's objective is
  its share of the global one: its pixel-loss sum divided by the loss weight
  (valid pixels) of the *global* batch, plus weight decay divided by the
  number of replicas. Dividing a per-replica mean by the replica count instead
  is wrong whenever replicas hold different numbers of valid pixels (ignore
  label, padding, class weights).
- Batch normalization takes its statistics over the global batch
  (``synchronize_batch_norm``); per-replica statistics of a small per-replica
  batch are another model (with one image per replica, the image-pooling
  branch of ASPP normalizes a single value and outputs only its bias).

Left per replica: dropout masks (each replica draws its own, equal only in
distribution), and hard-pixel mining, which keeps the top fraction of each
replica's pixels rather than of the global batch.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from deeplab_tf.training.dilation import native_dilated_convolutions, native_dilation_supported
from deeplab_tf.training.losses import cross_entropy_sums


def replica_objective(loss_sum, weight_sum, regularization, num_replicas: int):
    """This replica's share of the global-batch objective.

    Summed over replicas (as the optimizer sums gradients), the shares give
    ``sum(loss_sum) / sum(weight_sum) + regularization``: the mean pixel loss
    of the global batch plus the regularization once.

    Args:
      loss_sum: this replica's weighted pixel-loss sum.
      weight_sum: this replica's loss weight (valid pixels, or class-weighted).
      regularization: the regularization term (same on every replica).
      num_replicas: replicas in sync.

    Returns:
      ``(objective, loss_share)``: the objective to differentiate, and this
      replica's share of the global mean loss (their sum is the mean loss).
    """
    if num_replicas > 1:
        weight_sum = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, weight_sum)
    loss_share = tf.math.divide_no_nan(loss_sum, weight_sum)
    return loss_share + regularization / num_replicas, loss_share


def synchronize_batch_norm(model) -> int:
    """Makes every batch-norm layer of ``model`` compute its training
    statistics over the global batch (all replicas); returns how many.
    Inference is unchanged (moving statistics)."""
    count = 0
    for layer in model.submodules:
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            layer.fused = False  # the fused kernel cannot all-reduce
            count += 1
    return count


def weight_decay_kernels(model) -> list:
    """The variables L2 weight decay applies to: convolution and dense kernels."""
    return [w for w in model.trainable_weights if "kernel" in w.name]


def make_train_step(
    model,
    optimizer,
    ignore_label: int,
    class_weights=None,
    jit_compile: bool = False,
    *,
    top_k_fraction: float = 1.0,
    weight_decay: float = 0.0,
    strategy: tf.distribute.Strategy | None = None,
    native_dilation: bool = True,
):
    """Returns ``step(images, labels) -> loss``: forward, loss, L2 weight decay,
    backward and an optimizer update, as one tf.function.

    ``loss`` is the mean pixel loss of the global batch (without weight decay).
    With a strategy of several replicas, ``images`` and ``labels`` are
    distributed values, batch norm is synchronized across replicas (the model
    is changed in place) and the update equals a single replica's on the
    global batch (see the module docstring).

    Args:
      model: a Keras model producing logits (built in ``strategy``'s scope).
      optimizer: a Keras optimizer (a ``LossScaleOptimizer`` scales the loss).
      ignore_label: label value left out of the loss.
      class_weights: optional per-class loss weights.
      jit_compile: compile the step with XLA (single replica only).
      top_k_fraction: hard-pixel mining fraction (1.0: all pixels).
      weight_decay: L2 weight-decay factor on kernels (``wd * sum(k**2) / 2``).
      strategy: a ``tf.distribute`` strategy (default: the current one).
      native_dilation: trace dilated Conv2D layers as native dilated ops where
        that is supported and exact (``training.dilation``): same numbers, faster.
    """
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:
        synchronize_batch_norm(model)
    kernels = weight_decay_kernels(model) if weight_decay else []
    scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
    native_dilation = native_dilation and native_dilation_supported()

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            with native_dilated_convolutions(model, native_dilation):
                logits = model(images, training=True)
            loss_sum, weight_sum = cross_entropy_sums(labels, logits, ignore_label, class_weights, top_k_fraction)
            decay = 0.0
            if kernels:
                decay = weight_decay * tf.add_n([tf.nn.l2_loss(tf.cast(k, tf.float32)) for k in kernels])
            objective, loss_share = replica_objective(loss_sum, weight_sum, decay, replicas)
            if scaled:
                objective = optimizer.get_scaled_loss(objective)
        grads = tape.gradient(objective, model.trainable_variables)
        if scaled:
            grads = optimizer.get_unscaled_gradients(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss_share

    @tf.function(jit_compile=jit_compile and replicas == 1)
    def step(images, labels):
        shares = strategy.run(replica_step, args=(images, labels))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, shares, axis=None)

    return step
