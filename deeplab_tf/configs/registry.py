"""Registry of named experiments, each with a derived "smoke" variant for tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from deeplab_tf.configs.base import ExperimentConfig

_EXPERIMENTS: dict[str, Callable[[], ExperimentConfig]] = {}
_SMOKE: dict[str, Callable[[ExperimentConfig], ExperimentConfig]] = {}


def register_experiment(fn=None, *, smoke: Callable[[ExperimentConfig], ExperimentConfig] | None = None):
    """Decorator: registers ``fn() -> ExperimentConfig`` under ``fn.__name__``.

    Args:
      smoke: ``smoke(config) -> config`` making the tiny variant; defaults to
        ``default_smoke``.
    """

    def register(f):
        name = f.__name__
        if name in _EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered twice")
        _EXPERIMENTS[name] = f
        _SMOKE[name] = smoke or default_smoke
        return f

    return register(fn) if fn is not None else register


def list_experiments() -> list[str]:
    return sorted(_EXPERIMENTS)


def get_experiment(name: str, smoke: bool = False) -> ExperimentConfig:
    """Returns the experiment ``name`` (its smoke variant if ``smoke``).

    Raises:
      ValueError: unknown name; the message lists the registered ones.
    """
    if name not in _EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known experiments: {', '.join(list_experiments())}")
    config = _EXPERIMENTS[name]()
    if config.name != name:
        config = dataclasses.replace(config, name=name)
    return _SMOKE[name](config) if smoke else config


SMOKE_SIZE = (65, 65)
_SMALLEST_WIDTH = {"mobilenet_v2": 0.35, "mobilenet_v3_large": 0.75, "mobilenet_v3_small": 0.75}


def default_smoke(config: ExperimentConfig) -> ExperimentConfig:
    """A variant small enough for a unit test: 65x65, thin heads, 2 steps.

    The architecture kind (backbone, v3 or v3+, ASPP branches, output stride,
    class count) is kept, so the smoke model exercises the same code paths.
    """
    model = config.model
    backbone = dataclasses.replace(
        model.backbone,
        width_multiplier=_SMALLEST_WIDTH.get(model.backbone.name, model.backbone.width_multiplier),
        weights=None,
    )
    model = dataclasses.replace(
        model,
        input_size=SMOKE_SIZE,
        backbone=backbone,
        aspp=dataclasses.replace(model.aspp, filters=32),
        decoder=dataclasses.replace(model.decoder, filters=32, low_level_filters=16),
    )
    return dataclasses.replace(
        config,
        name=f"{config.name}:smoke",
        model=model,
        data=dataclasses.replace(config.data, crop_size=SMOKE_SIZE, batch_size=2, eval_size=None),
        train=dataclasses.replace(config.train, train_steps=2, warmup_steps=0, checkpoint_every=1),
        quant=dataclasses.replace(config.quant, train_steps=2, calibration_batches=1),
    )
