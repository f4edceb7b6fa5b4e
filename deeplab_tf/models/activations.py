"""Hard-swish and hard-sigmoid as layers (https://arxiv.org/abs/1905.02244, Sec. 5.2).

``keras.applications`` builds them from raw tensor ops, which become
``TFOpLambda`` layers that tensorflow-model-optimization cannot quantize. As
layers they get a ``QuantizeConfig`` (``deeplab_tf.quantization``) and
serialize by name. ``HardSwish`` computes exactly ``x * relu6(x + 3) * (1/6)``,
the expression the TFLite converter fuses into one ``HARD_SWISH`` op.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

_SIXTH = 1.0 / 6.0


@keras.saving.register_keras_serializable(package="deeplab_tf")
class HardSigmoid(keras.layers.Layer):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear in between.

    ``activation`` (identity) is applied to ``relu6(x + 3)``: quantization-aware
    training fake-quantizes there too, so that TFLite gets ranges for both of
    its int8 ops, ADD (fused RELU6) and MUL.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = keras.activations.linear

    def call(self, inputs):
        return self.activation(tf.nn.relu6(inputs + 3.0)) * _SIXTH

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config()


@keras.saving.register_keras_serializable(package="deeplab_tf")
class HardSwish(keras.layers.Layer):
    """``x * relu6(x + 3) / 6`` (TFLite ``HARD_SWISH``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs * tf.nn.relu6(inputs + 3.0) * _SIXTH

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config()
