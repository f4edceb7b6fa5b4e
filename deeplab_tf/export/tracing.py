"""Trace a Keras model into the ops TFLite and XNNPACK handle best, without editing it.

Two layer kinds trace into ops that convert badly, and are redirected while
``native_ops(model)`` is active:

* ``Conv2D`` / ``DepthwiseConv2D`` with ``dilation_rate > 1`` go through
  ``tf.nn.convolution`` / ``tf.nn.depthwise_conv2d``, which emulate dilation
  with SpaceToBatchND -> conv -> BatchToSpaceND. The TFLite converter re-fuses
  that only when it matches the pattern; when it does not (fake-quant or an
  unfolded batch norm in between: tensorflow/tensorflow#50172) the int8 graph
  keeps SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND and unfolded batch norms, which
  XNNPACK rejects. Here they call ``tf.raw_ops.Conv2D`` /
  ``tf.raw_ops.DepthwiseConv2dNative`` with a ``dilations`` attribute, which
  TFLite maps to CONV_2D / DEPTHWISE_CONV_2D with dilation factors.
* ``AveragePooling2D`` over the whole feature map (ASPP image pooling) maps to
  AVERAGE_POOL_2D, which XNNPACK runs in float only; here it is
  ``tf.reduce_mean(keepdims=True)``, the same numbers, which maps to MEAN, which
  XNNPACK also runs in int8.

Each redirected layer gets an instance attribute shadowing its class's
``convolution_op`` or ``call``; the attributes are removed on exit, also on
errors. Layers inside wrappers (tfmot's ``QuantizeWrapper`` calls the wrapped
layer's ``call`` with its fake-quantized kernel) and nested models are found
too. The redirected model computes the same numbers, also eagerly; redirection
is per model instance, so do not call the same model from other threads meanwhile.
"""

from __future__ import annotations

import contextlib
import types

import tensorflow as tf
import tf_keras as keras


def _native_padding(layer) -> str:
    if layer.padding not in ("same", "valid") or layer.data_format != "channels_last":
        raise ValueError(
            f"{layer.name}: only channels_last convolutions with 'same' or 'valid' padding trace as "
            f"native dilated ops, got padding={layer.padding!r}, data_format={layer.data_format!r}"
        )
    return layer.padding.upper()


def _dilated_conv2d_op(self, inputs, kernel):
    # Shadows Conv2D.convolution_op; Conv2D.call still adds bias and activation.
    return tf.raw_ops.Conv2D(
        input=inputs,
        filter=kernel,
        strides=[1, *self.strides, 1],
        padding=_native_padding(self),
        dilations=[1, *self.dilation_rate, 1],
        data_format="NHWC",
    )


def _dilated_depthwise_call(self, inputs):
    # Shadows DepthwiseConv2D.call (backend.depthwise_conv2d + bias + activation).
    outputs = tf.raw_ops.DepthwiseConv2dNative(
        input=inputs,
        filter=self.depthwise_kernel,
        strides=[1, *self.strides, 1],
        padding=_native_padding(self),
        dilations=[1, *self.dilation_rate, 1],
        data_format="NHWC",
    )
    if self.use_bias:
        outputs = tf.nn.bias_add(outputs, self.bias)
    if self.activation is not None:
        outputs = self.activation(outputs)
    return outputs


def _global_average_pool_call(self, inputs):
    # Shadows AveragePooling2D.call: a window covering the whole map is a mean.
    if self.data_format == "channels_last" and tuple(inputs.shape[1:3]) == tuple(self.pool_size):
        return tf.reduce_mean(inputs, axis=(1, 2), keepdims=True)
    return type(self).call(self, inputs)


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    found, seen = [], set()
    for layer in (model, *model.submodules):
        if isinstance(layer, keras.layers.Layer) and id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
    return found


def _redirect(layer) -> tuple[str, types.MethodType] | None:
    """The attribute to shadow and its replacement, or None to leave the layer alone."""
    if type(layer) is keras.layers.AveragePooling2D and layer.padding == "valid":
        return "call", types.MethodType(_global_average_pool_call, layer)
    if max(getattr(layer, "dilation_rate", None) or (1,)) == 1:
        return None
    _native_padding(layer)
    if type(layer) is keras.layers.DepthwiseConv2D:
        return "call", types.MethodType(_dilated_depthwise_call, layer)
    if type(layer) is keras.layers.Conv2D and layer.groups == 1:
        return "convolution_op", types.MethodType(_dilated_conv2d_op, layer)
    raise ValueError(
        f"{layer.name}: a dilated {type(layer).__name__} cannot be traced as a native dilated op; "
        "use Conv2D or DepthwiseConv2D"
    )


@contextlib.contextmanager
def native_ops(model: keras.Model):
    """Within the block, ``model`` traces dilated convolutions as native dilated
    ops and whole-map average pooling as a mean (see the module docstring).

    Yields:
      The names of the redirected layers.

    Raises:
      ValueError: a dilated layer of a kind that cannot be traced natively
        (``SeparableConv2D``, Conv1D/3D, transposed or grouped convolutions,
        channels_first, explicit padding).
    """
    shadowed = []
    try:
        for layer in _layers(model):
            redirect = _redirect(layer)
            if redirect is not None:
                object.__setattr__(layer, *redirect)
                shadowed.append((layer, redirect[0]))
        yield [layer.name for layer, _ in shadowed]
    finally:
        for layer, attribute in shadowed:
            object.__delattr__(layer, attribute)
