"""Dense dilated convolutions as single native ops in the training graph.

Keras ``Conv2D`` with ``dilation_rate > 1`` goes through ``tf.nn.convolution``,
which on CPU emulates dilation with SpaceToBatchND -> conv -> BatchToSpaceND.
With oneDNN (TensorFlow's default on x86) and on GPU, ``Conv2D`` with a
``dilations`` attribute runs natively, forward and backward, with the same
numbers; for ASPP's 3x3 branches (rates 6, 12, 18) the forward+backward pass
is 2-10x faster on CPU, and a DeepLab v3+ training step 1.15-1.5x faster.

Only dense ``Conv2D`` is redirected: TensorFlow 2.21's oneDNN kernels for the
gradients of a dilated ``DepthwiseConv2dNative`` give wrong numbers, and
without oneDNN the CPU has no dilated ``Conv2DBackpropInput``. Whether the
native op and its gradients match the emulated ones here is checked once per
process (``native_dilation_supported``) on a tiny case.
"""

from __future__ import annotations

import contextlib
import types

import numpy as np
import tensorflow as tf
import tf_keras as keras


def _dilated_layers(model) -> list:
    seen, found = set(), []
    for layer in (model, *model.submodules):
        if (
            type(layer) is keras.layers.Conv2D
            and id(layer) not in seen
            and max(layer.dilation_rate) > 1
            and layer.groups == 1
            and layer.padding in ("same", "valid")
            and layer.data_format == "channels_last"
        ):
            seen.add(id(layer))
            found.append(layer)
    return found


def _native_convolution_op(self, inputs, kernel):
    # Shadows Conv2D.convolution_op; Conv2D.call still adds bias and activation.
    return tf.nn.conv2d(
        inputs, kernel, strides=[1, *self.strides, 1], padding=self.padding.upper(), dilations=[1, *self.dilation_rate, 1]
    )


_SUPPORTED: list[bool] = []


def native_dilation_supported() -> bool:
    """Whether a native dilated Conv2D and its gradients run here and match the
    emulated ones. Checked eagerly once per process; asked first while a
    tf.function traces, it answers False without caching."""
    if not _SUPPORTED:
        if not tf.executing_eagerly():
            return False
        _SUPPORTED.append(_check_native_dilation())
    return _SUPPORTED[0]


def _check_native_dilation() -> bool:
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(2, 9, 9, 4)), tf.float32)
    kernel = tf.constant(rng.normal(size=(3, 3, 4, 3)), tf.float32)

    def forward_backward(convolve):
        with tf.GradientTape() as tape:
            tape.watch([images, kernel])
            outputs = convolve(images, kernel)
            loss = tf.reduce_sum(outputs * outputs)
        return [t.numpy() for t in (outputs, *tape.gradient(loss, [images, kernel]))]

    try:
        native = forward_backward(lambda x, k: tf.nn.conv2d(x, k, strides=1, padding="SAME", dilations=[1, 3, 3, 1]))
        emulated = forward_backward(lambda x, k: tf.nn.convolution(x, k, padding="SAME", dilations=3))
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return False
    return all(
        np.allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max())) for a, b in zip(native, emulated, strict=True)
    )


@contextlib.contextmanager
def native_dilated_convolutions(model, enabled: bool = True):
    """Within the block, ``model``'s dilated ``Conv2D`` layers (also inside
    wrappers such as tfmot's ``QuantizeWrapper``) trace as native dilated ops,
    if ``enabled`` and ``native_dilation_supported()``; the model itself is
    not changed. Use it around the tracing of a training step.

    Yields:
      The names of the redirected layers (empty when not supported).
    """
    layers = _dilated_layers(model) if enabled and native_dilation_supported() else []
    try:
        for layer in layers:
            object.__setattr__(layer, "convolution_op", types.MethodType(_native_convolution_op, layer))
        yield [layer.name for layer in layers]
    finally:
        for layer in layers:
            if "convolution_op" in layer.__dict__:
                object.__delattr__(layer, "convolution_op")
