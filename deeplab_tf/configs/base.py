"""Typed, nested experiment configs: model, data, train, quant, export.

Configs are frozen dataclasses. Derive variants with ``dataclasses.replace``
(or ``override`` for dotted keys from the command line), serialise with
``to_dict`` / ``from_dict``; the round trip is exact.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from deeplab_tf.artifacts.modes import ClassWeighting, InputDtype, MixedPrecision, Mode, Output, Quantization


def _parse_modes(config, section: str, **modes: type[Mode]) -> None:
    """Sets each mode field of a frozen ``config`` to its member (a string as given, or in a
    record), once, when the config is built; ValueError naming ``section.key`` otherwise."""
    for key, mode in modes.items():
        object.__setattr__(config, key, mode.parse(getattr(config, key), f"{section}.{key}"))


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
    """Feature extractor.

    Attributes:
      name: registered backbone (see ``deeplab_tf.models.list_backbones()``).
      output_stride: 8, 16 or 32; strides past it become dilation.
      width_multiplier: channel multiplier (MobileNets).
      multi_grid: per-unit dilation multipliers of the last block (ResNet),
        e.g. (1, 2, 4); None for none.
      weights: "imagenet", a weights-file path, or None for random init.
      channel_divisor: MobileNets round each layer's channels (width times the
        paper's) to a multiple of this, at least 8: 8 as keras.applications
        (and the original at width 1.0), 1 as the original DeepLab below width
        1.0 (its 0.5 model projects block 1 to 12 channels, not 16).
    """

    name: str = "mobilenet_v2"
    output_stride: int = 16
    width_multiplier: float = 1.0
    multi_grid: tuple[int, ...] | None = None
    weights: str | None = None
    channel_divisor: int = 8


@dataclasses.dataclass(frozen=True)
class ASPPConfig:
    """Atrous spatial pyramid pooling (https://arxiv.org/abs/1706.05587).

    Attributes:
      filters: channels of every branch and of the projection.
      atrous_rates: rates of the 3x3 branches; None means (6, 12, 18) scaled by
        16 / output_stride; () gives the "mobile" ASPP (1x1 + image pooling).
      image_pooling: add the image-level pooling branch.
      separable: depthwise-separable atrous convolutions.
      dropout: dropout rate after the projection.
      image_pooling_first: concatenate the image-pooling branch first, as the
        original DeepLab does ([pool, 1x1, atrous...]); else last.
      image_pooling_crop_size: (height, width) of the crop whose features one
        image-pooling window covers (the original's ``image_pooling_crop_size``:
        ``(s - 1) // output_stride + 1`` feature pixels per side, at most the
        map's); None: the whole feature map, one global pool.
      image_pooling_stride: (rows, columns) between image-pooling windows; the
        pooled grid is resized back with aligned corners (``model.align_corners``).
      squeeze_excite: the image-pooling branch gates the others instead of being
        concatenated to them: its 1x1 conv has a bias and a hard sigmoid, no batch
        norm, and multiplies the (projected) ASPP output (the original's
        ``aspp_with_squeeze_and_excitation`` with ``image_se_uses_qsigmoid``).
      projection: project the concatenated branches by a 1x1 conv (the
        original's ``aspp_with_concat_projection``).
    """

    filters: int = 256
    atrous_rates: tuple[int, ...] | None = None
    image_pooling: bool = True
    separable: bool = False
    dropout: float = 0.1
    image_pooling_first: bool = False
    image_pooling_crop_size: tuple[int, int] | None = None
    image_pooling_stride: tuple[int, int] = (1, 1)
    squeeze_excite: bool = False
    projection: bool = True


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
    """DeepLab v3+ decoder (https://arxiv.org/abs/1802.02611).

    Attributes:
      low_level_feature: backbone level fused by the decoder ("C2", stride 4);
        None builds DeepLab v3 (no decoder).
      low_level_filters: channels of the low-level projection.
      filters: channels of the two 3x3 refinement convolutions.
      separable: depthwise-separable refinement convolutions.
      sum_merge: the original's ``decoder_use_sum_merge``: one refinement conv
        on the upsampled encoder output, added to the low-level projection
        (both ``filters`` wide; ``low_level_filters`` unused) instead of two
        after concatenating them.
      output_is_logits: the original's ``decoder_output_is_logits`` (with
        ``sum_merge``): both convolutions are 1x1 with a bias, no batch norm or
        activation, ``num_classes`` wide (``filters`` unused), and their sum is
        the logits: no classifier conv follows.
    """

    low_level_feature: str | None = None
    low_level_filters: int = 48
    filters: int = 256
    separable: bool = False
    sum_merge: bool = False
    output_is_logits: bool = False


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The DeepLab model: backbone, ASPP, optional decoder, classifier.

    Attributes:
      align_corners: bilinear resizes (decoder, logits) as TF1's
        ``resize_bilinear(align_corners=True)``, as the original DeepLab (and
        its released weights) did; else half-pixel upsampling plus crop.
    """

    num_classes: int = 21
    input_size: tuple[int, int] = (513, 513)
    backbone: BackboneConfig = BackboneConfig()
    aspp: ASPPConfig = ASPPConfig()
    decoder: DecoderConfig = DecoderConfig()
    bn_momentum: float = 0.99
    align_corners: bool = False


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how batches are made.

    Attributes:
      dataset: dataset name (pascal_voc, cityscapes, ade20k, camvid, folder, synthetic).
      data_dir: directory of TFRecords; None until given on the command line.
      train_split, eval_split: split names.
      crop_size: training crop (height, width).
      batch_size: global batch size.
      min_scale, max_scale: random scale range of training augmentation.
      photometric_jitter: strength of brightness/contrast/saturation/hue jitter (0: off).
      ignore_label: label value left out of loss and metrics.
      eval_size: evaluation images are padded to this (height, width); None:
        the evaluation split's largest image (read from the records).
      shuffle_buffer: records in the training shuffle buffer.
    """

    dataset: str = "pascal_voc"
    data_dir: str | None = None
    train_split: str = "train"
    eval_split: str = "val"
    crop_size: tuple[int, int] = (513, 513)
    batch_size: int = 8
    min_scale: float = 0.5
    max_scale: float = 2.0
    photometric_jitter: float = 0.0
    random_flip: bool = True
    ignore_label: int = 255
    eval_size: tuple[int, int] | None = None
    shuffle_buffer: int = 256


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """SGD with momentum, polynomial decay with linear warm-up, L2 on kernels.

    Attributes:
      eval_every: steps between validation runs (0: at checkpoints only if
        validation records exist; -1: never).
      mixed_precision: none, bfloat16 (CPU/TPU) or float16 (GPU, with loss scaling).
      class_weights: per-class loss weights; None for uniform.
      class_weighting: none, or median_frequency to compute class_weights
        from the class pixel counts that deeplab-convert wrote to dataset.json.
      top_k_fraction: hard-pixel mining, the fraction of hardest pixels kept.
      jit_compile: compile the training step with XLA.

    Raises:
      ValueError: a mode that is none of its choices (naming the key).
    """

    train_steps: int = 30000
    learning_rate: float = 0.007
    momentum: float = 0.9
    decay_power: float = 0.9
    warmup_steps: int = 0
    weight_decay: float = 4e-5
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_every: int = 0
    log_every: int = 10
    seed: int = 0
    mixed_precision: MixedPrecision = MixedPrecision.NONE
    class_weights: tuple[float, ...] | None = None
    class_weighting: ClassWeighting = ClassWeighting.NONE
    top_k_fraction: float = 1.0
    jit_compile: bool = False

    def __post_init__(self):
        _parse_modes(self, "train", mixed_precision=MixedPrecision, class_weighting=ClassWeighting)


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    """Quantization-aware fine-tuning."""

    train_steps: int = 3000
    learning_rate: float = 1e-3
    calibration_batches: int = 8


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What an app receives.

    Attributes:
      quantization: none, fp16, dynamic, int8_ptq or int8_qat.
      input_dtype: uint8 (normalization folded in) or float32.
      output: "scores" (per-class scores) or "mask" (argmax fused).
      input_size: export size; None means the model's.

    Raises:
      ValueError: a mode that is none of its choices (naming the key).
    """

    quantization: Quantization = Quantization.INT8_QAT
    input_dtype: InputDtype = InputDtype.UINT8
    output: Output = Output.SCORES
    input_size: tuple[int, int] | None = None

    def __post_init__(self):
        _parse_modes(self, "export", quantization=Quantization, input_dtype=InputDtype, output=Output)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One named experiment: everything needed to train, quantize and export."""

    name: str = "default"
    description: str = ""
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    quant: QuantConfig = QuantConfig()
    export: ExportConfig = ExportConfig()


# --- serialisation -----------------------------------------------------------


def to_dict(config) -> dict[str, Any]:
    """Nested dataclass -> plain dict of JSON types (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls, data: dict[str, Any]):
    """Plain dict -> dataclass ``cls``, checking field names and types.

    Raises:
      ValueError: unknown field, or a value that does not fit the field type.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}; fields: {sorted(names)}")
    kwargs = {key: _coerce(hints[key], value, f"{cls.__name__}.{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(hint, value, where: str):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        return from_dict(hint, value)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.replace("x", ",").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a sequence, got {value!r}")
        item = args[0]
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            return tuple(_coerce(item, v, where) for v in value)
        if len(value) != len(args):
            raise ValueError(f"{where} needs {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True))
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be true or false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{where} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be {hint.__name__}, got {value!r}") from None
        if hint is float:
            return number
        if not number.is_integer():
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return int(number)
    if isinstance(hint, type) and issubclass(hint, Mode):
        return hint.parse(value, where)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, got {value!r}")
        return value
    return value


def override(config, overrides: dict[str, Any]):
    """Returns ``config`` with dotted-key overrides applied, e.g.
    ``{"model.backbone.output_stride": "8", "train.learning_rate": 0.01}``.

    Strings are parsed to the field's type ("none" gives None for optional
    fields; "360,480" gives a tuple).

    Raises:
      ValueError: unknown key (the message names the valid ones) or bad value.
    """
    for dotted, value in overrides.items():
        config = _override_one(config, dotted.split("."), value, dotted)
    return config


def _override_one(config, path: list[str], value, dotted: str):
    names = [f.name for f in dataclasses.fields(config)]
    head = path[0]
    if head not in names:
        raise ValueError(f"unknown config key {dotted!r}: {type(config).__name__} has {names}")
    current = getattr(config, head)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"unknown config key {dotted!r}: {head} has no sub-fields")
        return dataclasses.replace(config, **{head: _override_one(current, path[1:], value, dotted)})
    hint = typing.get_type_hints(type(config))[head]
    if isinstance(value, str) and value.lower() in ("none", "null", ""):
        if type(None) in typing.get_args(hint):
            value = None
    return dataclasses.replace(config, **{head: _coerce(hint, value, dotted)})
