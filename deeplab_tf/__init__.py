"""deeplab_tf: DeepLab v3/v3+ in TensorFlow/Keras 2, from a dataset to an int8 TFLite model.

Importing this package selects Keras 2 (``tf_keras``) for TensorFlow by setting
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported, so that ``tf.keras``,
tensorflow-model-optimization and keras-cv all build the same kind of model.
"""

import os
import sys

__version__ = "0.1.0"

_KERAS3_ERROR = (
    "deeplab_tf needs Keras 2 (tf_keras), but TensorFlow was imported before "
    "deeplab_tf without TF_USE_LEGACY_KERAS=1, so tf.keras is Keras 3. "
    "Import deeplab_tf before tensorflow, or set TF_USE_LEGACY_KERAS=1 in the environment."
)


# Whether the user chose TensorFlow's native log level (the command-line tools then leave it alone).
TF_LOG_LEVEL_GIVEN = "TF_CPP_MIN_LOG_LEVEL" in os.environ


def _select_keras2():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    already_imported = "tensorflow" in sys.modules
    if not already_imported:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        return
    # TensorFlow resolves tf.keras lazily, on first attribute access: setting the
    # variable still helps if nothing touched tf.keras yet. Check what it became.
    if os.environ.get("TF_USE_LEGACY_KERAS", "").lower() not in ("1", "true"):
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    if not tf.keras.__name__.startswith("tf_keras"):
        raise ImportError(_KERAS3_ERROR)


_select_keras2()
