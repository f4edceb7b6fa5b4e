"""Quantization-aware training; the only package that imports tensorflow-model-optimization."""

from deeplab_tf.quantization.qat import (  # noqa: F401
    OutputQuantizeConfig,
    quantize_model,
    quantize_scope,
    unsupported_layers,
)
