"""The command-line tools (thin absl mains). Importing this package, before any tool imports
TensorFlow, quiets TensorFlow's native start-up logging (``common.quiet_tensorflow``)."""

from deeplab_tf.cli.common import quiet_tensorflow

quiet_tensorflow()
