"""Typed configs and the registry of named experiments."""

from deeplab_tf.artifacts.modes import (  # noqa: F401  (the configs' field types)
    ClassWeighting,
    InputDtype,
    MaskArgmax,
    MixedPrecision,
    Output,
    Quantization,
)
from deeplab_tf.configs import experiments as _experiments  # noqa: F401  (registers)
from deeplab_tf.configs.base import (  # noqa: F401
    ASPPConfig,
    BackboneConfig,
    DataConfig,
    DecoderConfig,
    ExperimentConfig,
    ExportConfig,
    ModelConfig,
    QuantConfig,
    TrainConfig,
    from_dict,
    override,
    to_dict,
)
from deeplab_tf.configs.registry import get_experiment, list_experiments, register_experiment  # noqa: F401
