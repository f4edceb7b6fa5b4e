"""Export: Keras DeepLab -> TFLite (float, fp16, dynamic, int8 PTQ/QAT), inspection."""

from deeplab_tf.export.conversion import ConvertOptions, convert  # noqa: F401
from deeplab_tf.export.inspect import delegation_report, op_histogram, run_tflite, tensor_dtypes  # noqa: F401
