"""Backbone registry and the contract every backbone builder follows.

A backbone builder takes an input tensor and returns a dict of named feature
levels ``{"C2": stride 4, "C3": stride 8, "C4": stride 16, "C5": deepest}``
(nominal strides; with ``output_stride`` 8 or 16 the later levels keep the
output stride and their strides are replaced by dilation, as in DeepLab:
https://arxiv.org/abs/1706.05587). ``build_backbone`` wraps the tensors in a
``keras.Model`` whose outputs are that dict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tf_keras as keras

from deeplab_tf.configs.base import BackboneConfig

OUTPUT_STRIDES = (8, 16, 32)
MIN_INPUT_SIZE = 32
LEVELS = ("C2", "C3", "C4", "C5")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How RGB uint8 pixels become the backbone's input: ``(x - mean) / std``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_dict(self) -> dict:
        return {"color_order": "RGB", "mean": list(self.mean), "std": list(self.std)}


MINUS_ONE_TO_ONE = Preprocessing(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5))


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone.

    Attributes:
      name: registry key.
      build: ``build(inputs, config) -> dict[level name, tensor]``.
      preprocessing: the normalization its (ImageNet) weights expect.
      load_pretrained: ``load_pretrained(backbone_model, config, weights)``
        copies ImageNet weights (``weights="imagenet"``) or a weights file into
        the built backbone; None when no pretrained source exists.
      widths: allowed width multipliers (None: the builder takes any).
    """

    name: str
    build: Callable[..., dict]
    preprocessing: Preprocessing
    load_pretrained: Callable[..., None] | None = None
    widths: tuple[float, ...] | None = None


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"backbone {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def get_backbone_spec(name: str) -> BackboneSpec:
    """Returns the registered backbone ``name``.

    Raises:
      ValueError: unknown name; the message lists the known ones.
    """
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown backbone {name!r}; known backbones: {', '.join(list_backbones())}"
        )
    return _REGISTRY[name]


def validate_backbone_config(config: BackboneConfig, input_size: tuple[int, int]) -> BackboneSpec:
    """Checks a backbone config against the registry and an input size.

    Raises:
      ValueError: naming the bad field (name, output stride, width, input size).
    """
    spec = get_backbone_spec(config.name)
    if config.output_stride not in OUTPUT_STRIDES:
        raise ValueError(
            f"output_stride must be one of {OUTPUT_STRIDES}, got {config.output_stride}"
        )
    if spec.widths is not None and config.width_multiplier not in spec.widths:
        raise ValueError(
            f"backbone {config.name!r} takes width_multiplier in {spec.widths}, "
            f"got {config.width_multiplier}"
        )
    if not isinstance(config.channel_divisor, int) or config.channel_divisor < 1:
        raise ValueError(f"channel_divisor must be a positive integer, got {config.channel_divisor!r}")
    if len(input_size) != 2 or any(
        not isinstance(s, int) or isinstance(s, bool) for s in input_size
    ):
        raise ValueError(f"input_size must be two integers (height, width), got {input_size!r}")
    if min(input_size) < MIN_INPUT_SIZE:
        raise ValueError(
            f"input size {input_size[0]}x{input_size[1]} is too small for backbone "
            f"{config.name!r}: each side must be at least {MIN_INPUT_SIZE} pixels"
        )
    return spec


class AtrousTracker:
    """Turns strides past ``output_stride`` into dilation, as DeepLab does.

    Call it with each layer's nominal stride; it returns the ``(stride,
    dilation_rate)`` the layer gets. Once the running stride reaches
    ``output_stride``, a stride-2 layer gets stride 1 with the current rate and
    every later layer a doubled rate (https://arxiv.org/abs/1706.05587, Sec. 3.1).
    """

    def __init__(self, output_stride: int, current_stride: int = 1):
        self.output_stride = output_stride
        self.current_stride = current_stride
        self.rate = 1

    def __call__(self, stride: int) -> tuple[int, int]:
        if stride == 1:
            return 1, self.rate
        if self.current_stride < self.output_stride:
            self.current_stride *= stride
            return stride, 1
        layer_rate = self.rate
        self.rate *= stride
        return 1, layer_rate


def build_backbone(
    config: BackboneConfig,
    input_size: tuple[int, int],
    inputs: keras.KerasTensor | None = None,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """Builds a backbone as a model whose outputs are its named feature levels.

    Args:
      config: the backbone config (name, output stride, width, weights...).
      input_size: (height, width) of the input image.
      inputs: optional input tensor to build on (the DeepLab builder passes its
        own so that the final model stays one flat functional graph).
      bn_momentum: batch-norm moving-average momentum.

    Returns:
      A ``keras.Model`` mapping an image to ``{"C2": ..., "C5": ...}``.

    Raises:
      ValueError: bad config or input size (see ``validate_backbone_config``).
    """
    spec = validate_backbone_config(config, input_size)
    if inputs is None:
        inputs = keras.Input(shape=(*input_size, 3), name="image")
    features = spec.build(inputs, config, bn_momentum=bn_momentum)
    missing = [level for level in LEVELS if level not in features]
    if missing:
        raise RuntimeError(f"backbone {config.name!r} did not return levels {missing}")
    model = keras.Model(inputs, {k: features[k] for k in LEVELS}, name=config.name)
    if config.weights:
        if spec.load_pretrained is None:
            raise ValueError(
                f"backbone {config.name!r} has no pretrained weights source; "
                "use weights=None or a weights file saved from this backbone"
            )
        spec.load_pretrained(model, config, config.weights)
    return model


def feature_strides(backbone: keras.Model) -> dict[str, int]:
    """Measured stride of each level: the power of two s with ceil(H / s) == h.

    Every stride-2 layer uses "same" padding, so a level of stride s has
    ``ceil(H / s)`` rows whatever H is.
    """
    height, width = backbone.input_shape[1:3]
    strides = {}
    for name, tensor in backbone.output.items():
        h, w = tensor.shape[1:3]
        stride = 1
        while -(-height // stride) != h or -(-width // stride) != w:
            stride *= 2
            if stride > 1024:
                raise RuntimeError(f"level {name} ({h}x{w}) is not a power-of-two stride")
        strides[name] = stride
    return strides
