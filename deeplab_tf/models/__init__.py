"""DeepLab models: backbones (registry), ASPP, decoder and the one builder."""

from deeplab_tf.models.backbones import build_backbone, feature_strides, get_backbone_spec, list_backbones  # noqa: F401
from deeplab_tf.models.deeplab import build_deeplab, build_deeplab_with_backbone, model_name  # noqa: F401
