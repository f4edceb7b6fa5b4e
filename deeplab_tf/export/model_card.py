"""The model card, written by the export beside each .tflite. Its format lives on the ground
floor (``deeplab_tf.artifacts.model_card``), where evaluation reads it too; this module serves
the same names to the scripts, apps' tools and tests that import them from the export."""

from deeplab_tf.artifacts import model_card as _card


def __getattr__(name: str):
    return getattr(_card, name)
