"""Every registered experiment's model stays quantizable (so later work cannot silently break QAT)."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from deeplab_tf.configs import get_experiment, list_experiments
from deeplab_tf.models import build_deeplab
from deeplab_tf.quantization import quantize_model, unsupported_layers

# MobileNetV3's squeeze-excite and hard-swish multiply tensors; tfmot's default registry
# has no entry for Multiply or hard-swish, so these need our QuantizeConfigs.
NEEDS_CUSTOM_CONFIGS = {"mobilenet_v3_large", "mobilenet_v3_small"}


# The default tier quantizes one experiment per model kind (v3 MobileNetV2, v3+ MobileNetV2,
# MobileNetV3 with its custom configs, ResNet); the heavy tier quantizes them all.
# deeplabv3_mnv2_dm05_pascal_257: the original's align-corners resizes (our ResizeBilinear layer) and
# TF-slim channel rounding.
DEFAULT_TIER = {"deeplabv3_mnv2_pascal", "deeplabv3plus_mnv2_synthetic", "deeplabv3_mnv3large_cityscapes",
                "deeplabv3plus_resnet50_cityscapes", "deeplabv3_mnv2_dm05_pascal_257"}


@pytest.mark.parametrize(
    "name", [n if n in DEFAULT_TIER else pytest.param(n, marks=pytest.mark.heavy) for n in list_experiments()]
)
def test_quantize_model_accepts_every_experiment(name):
    config = get_experiment(name, smoke=True)
    model = build_deeplab(config.model)
    assert unsupported_layers(model) == []
    qat = quantize_model(model)
    images = np.random.RandomState(0).uniform(-1, 1, (1, *config.model.input_size, 3)).astype("float32")
    assert qat(images).shape == (1, *config.model.input_size, config.model.num_classes)
    if config.model.backbone.name not in NEEDS_CUSTOM_CONFIGS and not config.model.align_corners:
        # The plain tfmot entry point takes these models with no help at all (ResizeBilinear needs our config).
        tfmot.quantization.keras.quantize_model(model)
