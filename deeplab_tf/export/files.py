"""Export artifacts are written with the project's one atomic writer (``deeplab_tf.artifacts.files``)."""

from deeplab_tf.artifacts.files import write_bytes_atomic  # noqa: F401
