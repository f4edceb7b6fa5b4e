"""Quantization-aware training; the only package that imports tensorflow_model_optimization."""

from deeplab_tf.quantization.calibration import calibrate, fake_quant_disabled  # noqa: F401
from deeplab_tf.quantization.qat import (  # noqa: F401
    OutputQuantizeConfig,
    ResizeQuantizeConfig,
    copy_float_weights,
    quantize_model,
    quantize_scope,
    unsupported_layers,
)
