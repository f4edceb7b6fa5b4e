"""Backbone registry: name -> builder exposing named feature levels C2..C5."""

from deeplab_tf.models.backbones import (
    mobilenet_v2,  # noqa: F401  (registers)
    mobilenet_v3,  # noqa: F401
    resnet,  # noqa: F401  (registers)
    resnet_deeplab,  # noqa: F401  (registers)
    xception,  # noqa: F401  (registers)
)
from deeplab_tf.models.backbones.base import (  # noqa: F401
    LEVELS,
    OUTPUT_STRIDES,
    AtrousTracker,
    BackboneSpec,
    Preprocessing,
    build_backbone,
    feature_strides,
    get_backbone_spec,
    list_backbones,
    register_backbone,
)
