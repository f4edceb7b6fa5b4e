"""Which original variable each weight of a DeepLab Keras model takes, and in what layout.

The names are those of the original code: TF-slim's nets for the backbones
(``MobilenetV2/expanded_conv_3/expand/weights``, ``MobilenetV3/expanded_conv_3/squeeze_excite/Conv/biases``)
and research/deeplab's ``model.py`` for the heads (``aspp0``, ``aspp1..3`` with
``_depthwise``/``_pointwise`` when separable, ``image_pooling``, ``concat_projection``,
``decoder/feature_projection0``, ``decoder/decoder_conv0..1``, ``logits/semantic``). A
convolution's batch norm is the ``BatchNorm`` scope under the convolution's; a .tflite has it
folded into a bias (``<scope>/Conv2D_bias`` or ``<scope>/depthwise_bias``), which becomes an
identity batch norm.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import numpy as np
import tf_keras as keras

from deeplab_tf.configs.base import ModelConfig
from deeplab_tf.importing.sources import Source
from deeplab_tf.models.aspp import atrous_rates
from deeplab_tf.models.backbones import resnet_deeplab

# Batch-norm epsilon of the original heads (research/deeplab model.py's batch_norm_params).
HEAD_BN_EPSILON = 1e-5
# The classifier of research/deeplab's model.py: what makes weights a segmentation model's.
LOGITS_SCOPE = "logits/semantic"
# A sum-merge decoder whose output is the logits has them here instead (a 1x1 conv with biases).
_DECODER_LOGITS = "decoder/decoder_conv0"
_DECODER_LOGITS_BIASES = f"{_DECODER_LOGITS}/biases"
# The bias a TOCO/TFLite converter gives a convolution it folded batch norm into, by preference.
_FOLDED_BIASES = ("Conv2D_bias", "depthwise_bias", "biases", "bias")


@dataclasses.dataclass(frozen=True)
class BackboneNames:
    """How a backbone's Keras layers are named in the original checkpoints.

    Attributes:
      scope: Keras layer name -> original variable scope, or None for a layer
        the original does not have.
      bn_epsilon: the original backbone's batch-norm epsilon.
    """

    scope: Callable[[str], str | None]
    bn_epsilon: float


def _mobilenet_v2_scope(name: str) -> str | None:
    """TF-slim's mobilenet_v2 (DeepLab stops after expanded_conv_16: no Conv_1)."""
    if name == "Conv1":
        return "MobilenetV2/Conv"
    match = re.fullmatch(r"expanded_conv_(depthwise|project)", name)
    if match:
        return f"MobilenetV2/expanded_conv/{match.group(1)}"
    match = re.fullmatch(r"block_(\d+)_(expand|depthwise|project)", name)
    if match:
        return f"MobilenetV2/expanded_conv_{match.group(1)}/{match.group(2)}"
    return None


def _xception_65_scope(name: str) -> str | None:
    """research/deeplab's core/xception.py xception_65 (scope ``xception_65``)."""
    match = re.fullmatch(r"entry_flow_conv1_([12])", name)
    if match:
        return f"xception_65/entry_flow/conv1_{match.group(1)}"
    match = re.fullmatch(
        r"((?:entry|middle|exit)_flow)_block(\d+)_unit_(\d+)_(separable_conv[123]_(?:depthwise|pointwise)|shortcut)",
        name,
    )
    if match:
        flow, block, unit, layer = match.groups()
        return f"xception_65/{flow}/block{block}/unit_{unit}/xception_module/{layer}"
    return None


def _resnet_v1_scope(network: str) -> Callable[[str], str | None]:
    """research/deeplab's core/resnet_v1_beta.py ``network`` (``resnet_v1_50``, ``resnet_v1_101``; their
    beta variants, root ``conv1_1..3`` instead of ``conv1``, keep the scope: feature_extractor's name_scope)."""

    def scope(name: str) -> str | None:
        if re.fullmatch(r"conv1(_[123])?", name):
            return f"{network}/{name}"
        match = re.fullmatch(r"block(\d)_unit_(\d+)_(conv[123]|shortcut)", name)
        if match:
            block, unit, layer = match.groups()
            return f"{network}/block{block}/unit_{unit}/bottleneck_v1/{layer}"
        return None

    return scope


def _mobilenet_v3_scope(name: str) -> str | None:
    """TF-slim's mobilenet_v3 as research/deeplab's mobilenet_v3_*_seg (scope ``MobilenetV3``): the
    Keras layers carry the slim scopes (``expanded_conv_3/squeeze_excite/Conv_1``)."""
    pattern = r"Conv(_1)?|expanded_conv(_\d+)?/(expand|depthwise|project|squeeze_excite/Conv(_1)?)"
    return f"MobilenetV3/{name}" if re.fullmatch(pattern, name) else None


# Batch-norm epsilons of the original backbones: TF-slim's mobilenet training_scope (slim.batch_norm's
# default), research/deeplab feature_extractor's xception_arg_scope (1e-3) and resnet_arg_scope (1e-5);
# its mobilenet_v2_arg_scope for mobilenet_v3_*_seg sets none (slim.batch_norm's 1e-3).
BACKBONES = {
    "mobilenet_v2": BackboneNames(_mobilenet_v2_scope, bn_epsilon=1e-3),
    "xception65": BackboneNames(_xception_65_scope, bn_epsilon=1e-3),
    **{
        name: BackboneNames(_resnet_v1_scope(variant.scope), bn_epsilon=resnet_deeplab.RESNET_BN_EPSILON)
        for name, variant in resnet_deeplab.VARIANTS.items()
    },
    "mobilenet_v3_large_seg": BackboneNames(_mobilenet_v3_scope, bn_epsilon=1e-3),
    "mobilenet_v3_small_seg": BackboneNames(_mobilenet_v3_scope, bn_epsilon=1e-3),
}


class ImportMismatch(ValueError):
    """The source and the model do not pair one to one; the message lists both sides."""


@dataclasses.dataclass
class Assignment:
    """The weights to set: Keras layer name -> its weights' values in ``layer.get_weights()`` order,
    and the source names used."""

    values: dict[str, list[np.ndarray]]
    used: set[str]
    derived: list[str]  # what no source variable gave (identity batch norms, absent gammas)


def head_scopes(config: ModelConfig) -> dict[str, str]:
    """Keras layer name -> original scope of the ASPP, decoder and classifier convolutions."""
    scopes = {"aspp_conv1x1": "aspp0", "aspp_pool_conv": "image_pooling", "aspp_project": "concat_projection"}
    for i, rate in enumerate(atrous_rates(config.aspp, config.backbone.output_stride), start=1):
        scopes[f"aspp_atrous{rate}"] = f"aspp{i}"
    scopes["decoder_low_level"] = "decoder/feature_projection0"
    if config.decoder.sum_merge:  # model.py's _decoder_with_sum_merge: one conv, separable unless logits
        separable = config.decoder.separable and not config.decoder.output_is_logits
        scopes["decoder_conv1"] = "decoder/decoder_split_sep_conv0" if separable else "decoder/decoder_conv0"
    elif config.decoder.separable:  # model.py's split_separable_conv2d, scope decoder_conv0 and decoder_conv1
        scopes["decoder_conv1"], scopes["decoder_conv2"] = "decoder/decoder_conv0", "decoder/decoder_conv1"
    else:  # slim.repeat(..., 2, slim.conv2d, scope="decoder_conv0") numbers its convs inside its scope
        scopes["decoder_conv1"] = "decoder/decoder_conv0/decoder_conv0_1"
        scopes["decoder_conv2"] = "decoder/decoder_conv0/decoder_conv0_2"
    scopes["logits_conv"] = LOGITS_SCOPE
    return scopes


def _head_scope(name: str, heads: dict[str, str]) -> str | None:
    """The original scope of head convolution ``name`` (``head_scopes``; separable convs add the
    original's ``_depthwise`` / ``_pointwise``), None for a layer that is not a head's."""
    base, suffix = re.fullmatch(r"(.*?)(_depthwise|_pointwise)?", name).groups()
    return heads[base] + (suffix or "") if base in heads else heads.get(name)


def segmentation_classes(source: Source) -> int | None:
    """The class count of a DeepLab segmentation model's weights: the output channels of its
    ``logits/semantic`` kernel, or of a decoder whose output is the logits (model.py's
    ``decoder_output_is_logits``, the MobileNetV3 Cityscapes models: ``decoder/decoder_conv0`` with
    biases and no batch norm); None for weights without either (a backbone alone, such as the model
    zoo's ImageNet checkpoints).
    """
    kernel = source.values.get(f"{LOGITS_SCOPE}/weights")
    if kernel is None and not source.folded and _DECODER_LOGITS_BIASES in source.values:
        kernel = source.values.get(f"{_DECODER_LOGITS}/weights")
    if kernel is None:
        return None
    return int(kernel.shape[0] if source.folded else kernel.shape[-1])


def conv_scopes(model: keras.Model, config: ModelConfig) -> tuple[dict[str, str], list[str]]:
    """Original scope of every convolution of ``model``, and the convolutions that have none.

    Raises:
      ValueError: a backbone whose original names are not mapped yet.
    """
    backbone = BACKBONES.get(config.backbone.name)
    if backbone is None:
        raise ValueError(
            f"importing original weights into backbone {config.backbone.name!r} is not supported; "
            f"supported: {', '.join(sorted(BACKBONES))}"
        )
    heads = head_scopes(config)
    scopes, unnamed = {}, []
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            continue
        scope = _head_scope(layer.name, heads) or backbone.scope(layer.name)
        if scope is None:
            unnamed.append(layer.name)
        else:
            scopes[layer.name] = scope
    return scopes, unnamed


def backbone_layers(model: keras.Model, config: ModelConfig) -> list[str]:
    """The layers of ``model`` that the backbone's original names cover: its convolutions (those of
    no head, named or not) and their batch norms, in model order.

    Raises:
      ValueError: a backbone whose original names are not mapped yet.
    """
    scopes, unnamed = conv_scopes(model, config)
    heads = head_scopes(config)
    convs = {name for name in [*scopes, *unnamed] if _head_scope(name, heads) is None}
    bn_convs = batch_norm_convs(model)
    return [layer.name for layer in model.layers if layer.name in convs or bn_convs.get(layer.name) in convs]


def batch_norm_convs(model: keras.Model) -> dict[str, str]:
    """BatchNormalization layer name -> the convolution it normalizes (its sole input)."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            (node,) = layer.inbound_nodes
            source = node.inbound_layers
            if isinstance(source, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                found[layer.name] = source.name
    return found


def assign(model: keras.Model, config: ModelConfig, source: Source) -> Assignment:
    """The value of every weight of ``model`` from ``source``.

    Raises:
      ImportMismatch: weights of the model without a source variable, or source variables no
        weight takes: nothing is assigned; the message lists both sides.
      ValueError: a source variable whose shape does not fit its weight (the first one, naming
        both tensors and both shapes); an unsupported backbone.
    """
    assignment, missing = _pair(model, config, source, layers=None)
    unused = sorted(set(source.values) - assignment.used)
    if missing or unused:
        raise ImportMismatch(_mismatch_message(source, model, missing, unused))
    return assignment


def assign_backbone(model: keras.Model, config: ModelConfig, source: Source) -> Assignment:
    """The value of every weight of ``model``'s backbone (``backbone_layers``) from ``source``, weights
    of the backbone alone (the model zoo's ImageNet checkpoints). Source variables no backbone weight
    takes (an ImageNet classifier, layers past the original's feature extractor) are left unused.

    Raises:
      ValueError: no variable of ``source`` fits the backbone (another network), naming the source;
        a source variable whose shape does not fit its weight; an unsupported backbone.
      ImportMismatch: backbone weights without a source variable: nothing is assigned; the
        message lists both sides.
    """
    layers = backbone_layers(model, config)
    assignment, missing = _pair(model, config, source, layers=set(layers))
    if not assignment.used:
        scopes, _ = conv_scopes(model, config)
        expected = ", ".join(scopes[name] for name in layers[:6] if name in scopes)
        held = ", ".join(sorted(source.values)[:3]) or "no weights"
        raise ValueError(
            f"{source.path} fits no layer of backbone {config.backbone.name!r}: none of its variables has the "
            f"backbone's original names ({expected}, ...); it holds {held}, ... (another network?)"
        )
    if missing:
        unused = sorted(set(source.values) - assignment.used)
        raise ImportMismatch(_mismatch_message(source, model, missing, unused))
    return assignment


def _pair(
    model: keras.Model, config: ModelConfig, source: Source, layers: set[str] | None
) -> tuple[Assignment, list[str]]:
    """What ``assign`` and ``assign_backbone`` share: the values of ``layers`` (None: all) of ``model``
    from ``source``, and the weights without a source variable."""
    scopes, unnamed = conv_scopes(model, config)
    bn_convs = batch_norm_convs(model)
    backbone_epsilon = BACKBONES[config.backbone.name].bn_epsilon
    heads = head_scopes(config)
    unnamed = [name for name in unnamed if layers is None or name in layers]
    values, used, missing, derived = {}, set(), [f"layer {name} (no original name)" for name in unnamed], []

    def take(name: str, weight, transform=lambda v: v) -> np.ndarray | None:
        if name not in source.values:
            missing.append(f"{weight.name} {weight.shape.as_list()} <- {name}")
            return None
        value = transform(source.values[name])
        if tuple(value.shape) != tuple(weight.shape):
            raise ValueError(
                f"{_what(source)} variable {name} of shape {list(source.values[name].shape)} does not fit "
                f"{weight.name} of shape {weight.shape.as_list()} (experiment of another shape than the source?)"
            )
        used.add(name)
        return value.astype(np.float32)

    def folded_bias(scope: str) -> str:
        candidates = [f"{scope}/{suffix}" for suffix in _FOLDED_BIASES]
        return next((name for name in candidates if name in source.values), candidates[0])

    for layer in model.layers:
        if not layer.weights or (layers is not None and layer.name not in layers):
            continue
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            if layer.name not in scopes:
                continue  # listed in missing already
            scope = scopes[layer.name]
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            kernel = take(f"{scope}/{'depthwise_weights' if depthwise else 'weights'}", layer.weights[0],
                          _tflite_layout(depthwise) if source.folded else (lambda v: v))  # fmt: skip
            found = [kernel]
            if layer.use_bias:
                found.append(take(folded_bias(scope) if source.folded else f"{scope}/biases", layer.weights[1]))
            values[layer.name] = found
        elif isinstance(layer, keras.layers.BatchNormalization):
            conv = bn_convs.get(layer.name)
            if conv is None or conv not in scopes:
                missing.append(f"layer {layer.name} (a batch norm after no named convolution)")
                continue
            scope = scopes[conv]
            if source.folded:
                beta = take(folded_bias(scope), layer.beta)
                ones = np.ones(layer.beta.shape, np.float32)
                values[layer.name] = [ones, beta, np.zeros_like(ones), ones - np.float32(layer.epsilon)]
                derived.append(f"{layer.name} (identity batch norm: gamma 1, beta = {folded_bias(scope)})")
                continue
            bn = f"{scope}/BatchNorm"
            if f"{bn}/gamma" in source.values:
                gamma = take(f"{bn}/gamma", layer.gamma)
            else:  # a batch norm without scale (slim's scale=False)
                gamma = np.ones(layer.gamma.shape, np.float32) if f"{bn}/beta" in source.values else None
                derived.append(f"{layer.name}.gamma (1: the source's batch norm has no scale)")
            beta = take(f"{bn}/beta", layer.beta)
            mean = take(f"{bn}/moving_mean", layer.moving_mean)
            variance = take(f"{bn}/moving_variance", layer.moving_variance)
            if gamma is None or variance is None:
                continue
            epsilon = HEAD_BN_EPSILON if _head_scope(conv, heads) else backbone_epsilon
            # gamma / sqrt(var + eps_source) == gamma' / sqrt(var + eps_keras): exact in inference
            gamma = gamma * np.sqrt((variance + layer.epsilon) / (variance + epsilon)).astype(np.float32)
            values[layer.name] = [gamma, beta, mean, variance]
        else:
            missing.extend(f"{w.name} {w.shape.as_list()} <- (no original name)" for w in layer.weights)
    return Assignment(values, used, derived), missing


def _tflite_layout(depthwise: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A .tflite kernel in Keras's layout: conv OHWI -> HWIO, depthwise [1, H, W, C*m] -> [H, W, C, m]
    (m = 1, DeepLab's depth multiplier)."""
    if depthwise:
        return lambda v: v.reshape(v.shape[1:])[..., None] if v.ndim == 4 and v.shape[0] == 1 else v
    return lambda v: np.transpose(v, (1, 2, 3, 0)) if v.ndim == 4 else v


def _what(source: Source) -> str:
    return {"tflite": "the .tflite's", "tarball": "the archive's"}.get(source.kind, "the checkpoint's")


def _mismatch_message(
    source: Source, model: keras.Model, missing: list[str], unused: list[str], shown: int = 25
) -> str:
    def listing(items):
        return "".join(f"\n    {item}" for item in items[:shown]) + (
            f"\n    ... and {len(items) - shown} more" if len(items) > shown else ""
        )

    return (
        f"{source.path} does not pair one to one with model {model.name}: nothing was imported.\n"
        f"  {len(missing)} weights of the model without a source variable:{listing(missing)}\n"
        f"  {len(unused)} source variables no weight takes:{listing(unused)}"
    )


def apply(model: keras.Model, assignment: Assignment) -> None:
    """Sets the assigned weights (of every weighted layer of ``model``, or of its backbone's)."""
    for layer in model.layers:
        if layer.name in assignment.values:
            layer.set_weights(assignment.values[layer.name])
