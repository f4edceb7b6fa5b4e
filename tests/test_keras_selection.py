import os
import subprocess
import sys

ENV = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
ENV["TF_CPP_MIN_LOG_LEVEL"] = "3"


def run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)


def test_importing_deeplab_tf_selects_keras_2():
    result = run("import deeplab_tf, tensorflow as tf, tensorflow_model_optimization; print(tf.keras.__name__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_tensorflow_imported_first_but_keras_untouched_still_works():
    result = run("import tensorflow as tf; import deeplab_tf; print(tf.keras.__name__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_keras_3_already_in_use_is_a_clear_error():
    result = run("import tensorflow as tf; tf.keras.layers; import deeplab_tf")
    assert result.returncode != 0
    assert "ImportError: deeplab_tf needs Keras 2 (tf_keras)" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr
