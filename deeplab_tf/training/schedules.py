"""Learning-rate schedule of DeepLab: linear warm-up, then polynomial decay."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from deeplab_tf.artifacts.errors import ArgumentValueError


@keras.saving.register_keras_serializable(package="deeplab_tf")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(step)``: linear from 0 to ``base`` over ``warmup_steps``, then
    ``base * (1 - (step - warmup) / (total - warmup)) ** power`` down to ``end``.

    DeepLab's "poly" schedule (https://arxiv.org/abs/1706.05587, Sec. 4.1) with power 0.9.
    """

    def __init__(self, base: float, total_steps: int, warmup_steps: int = 0, power: float = 0.9, end: float = 0.0):
        if total_steps <= warmup_steps:
            raise ArgumentValueError(
                f"train_steps ({total_steps}) must exceed warmup_steps ({warmup_steps}); shorten the warm-up "
                f"with `train.warmup_steps`=N (N < {total_steps}, 0 for none) or train longer"
            )
        self.base, self.total_steps, self.warmup_steps = base, total_steps, warmup_steps
        self.power, self.end = power, end

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(self.warmup_steps, tf.float32)
        decay_steps = tf.cast(self.total_steps - self.warmup_steps, tf.float32)
        progress = tf.clip_by_value((step - warmup) / decay_steps, 0.0, 1.0)
        decayed = (self.base - self.end) * (1.0 - progress) ** self.power + self.end
        if self.warmup_steps == 0:
            return decayed
        return tf.where(step < warmup, self.base * (step + 1.0) / (warmup + 1.0), decayed)

    def get_config(self):
        return {
            "base": self.base,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "power": self.power,
            "end": self.end,
        }
