"""Copying ImageNet (or file) weights from ``keras.applications`` models by layer name."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import tf_keras as keras


def load_from_keras_application(
    backbone: keras.Model,
    factory: Callable[[str | None], keras.Model],
    weights: str,
    backbone_name: str,
    transform: Callable[[str, list[np.ndarray]], list[np.ndarray]] | None = None,
) -> None:
    """Loads ``weights`` into ``backbone`` through a keras.applications model.

    Args:
      backbone: our backbone; its weighted layers are named as in keras.applications.
      factory: ``factory(weights)`` builds the keras.applications model with
        ``weights`` ("imagenet", a weights-file path, or None for random).
      weights: "imagenet" (downloaded by Keras) or a path to a weights file of
        that keras.applications model.
      backbone_name: for error messages.
      transform: optional ``transform(layer_name, weights) -> weights`` for
        layers whose parameterisation differs (e.g. a reordered input).

    Raises:
      FileNotFoundError: a weights path that does not exist.
      RuntimeError: ImageNet weights could not be downloaded, or a layer of
        the backbone has no counterpart of the same shape.
    """
    if weights != "imagenet" and not os.path.exists(weights):
        raise FileNotFoundError(f"backbone weights file {weights!r} does not exist")
    try:
        source = factory(weights)
    except Exception as error:  # keras raises several types for network failures
        if weights == "imagenet":
            raise RuntimeError(
                f"ImageNet weights for backbone {backbone_name!r} could not be downloaded "
                f"({type(error).__name__}); pass a local weights file as backbone weights, "
                "or none for random initialisation."
            ) from error
        raise RuntimeError(f"cannot load weights file {weights!r} for {backbone_name!r}: {error}") from error
    transfer_weights(source, backbone, transform)


def copy_same_named_layers(
    source: keras.Model,
    target: keras.Model,
    transform: Callable[[str, list[np.ndarray]], list[np.ndarray]] | None = None,
) -> tuple[list[str], list[tuple[str, list[tuple] | None, list[tuple]]]]:
    """Copies the weights of every weighted layer of ``target`` from the same-named layer of
    ``source`` where all shapes agree (after ``transform``).

    Returns:
      The names copied, and ``(name, source shapes or None when absent, target shapes)`` of the
      layers left as they were.
    """
    by_name = {layer.name: layer for layer in source.layers}
    copied, mismatches = [], []
    for layer in target.layers:
        if not layer.weights:
            continue
        shapes = [w.shape for w in layer.get_weights()]
        other = by_name.get(layer.name)
        if other is None:
            mismatches.append((layer.name, None, shapes))
            continue
        values = other.get_weights()
        if transform is not None:
            values = transform(layer.name, values)
        if [v.shape for v in values] != shapes:
            mismatches.append((layer.name, [v.shape for v in values], shapes))
            continue
        layer.set_weights(values)
        copied.append(layer.name)
    return copied, mismatches


def transfer_weights(
    source: keras.Model,
    target: keras.Model,
    transform: Callable[[str, list[np.ndarray]], list[np.ndarray]] | None = None,
) -> list[str]:
    """Copies the weights of every weighted layer of ``target`` from the
    same-named layer of ``source``; returns the names copied.

    Raises:
      RuntimeError: a weighted layer of ``target`` missing in ``source`` or of
        another shape (all mismatches are listed).
    """
    copied, mismatches = copy_same_named_layers(source, target, transform)
    if mismatches:
        problems = [
            f"{name}: missing in source" if theirs is None else f"{name}: shapes {theirs} != {ours}"
            for name, theirs, ours in mismatches
        ]
        raise RuntimeError("weights do not match the backbone: " + "; ".join(problems))
    return copied
