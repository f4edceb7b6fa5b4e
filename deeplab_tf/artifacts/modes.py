"""The modes a config or an options object chooses between, as typed values.

They sit on the ground floor because the files describe them too (a model card names its
quantization, the TFLite metadata its input dtype and output); ``deeplab_tf.configs`` types its
fields with them. Each is a ``StrEnum``: a member is its string (``Quantization.INT8_QAT ==
"int8_qat"``, and JSON writes it as ``"int8_qat"``), so experiment records and model cards read
and write the same text as plain strings did. ``parse`` is the one check of a value, naming
where it came from; the properties replace string tests scattered over the stages.
"""

from __future__ import annotations

import enum


class Mode(enum.StrEnum):
    """A closed set of named choices."""

    @classmethod
    def choices(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)

    @classmethod
    def parse(cls, value, where: str):
        """``value`` as a member of ``cls``.

        Raises:
          ValueError: "``where`` must be one of (...), got ``value``".
        """
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"{where} must be one of {cls.choices()}, got {value!r}") from None


class Quantization(Mode):
    """How an export stores weights and activations."""

    NONE = "none"  # float32
    FP16 = "fp16"  # float16 weights
    DYNAMIC = "dynamic"  # int8 weights, float activations
    INT8_PTQ = "int8_ptq"  # full int8, ranges calibrated on training images
    INT8_QAT = "int8_qat"  # full int8, ranges learned by quantization-aware training

    @property
    def is_int8(self) -> bool:
        """Full integer: int8 activations and weights, uint8/int8 at the edges."""
        return self in (Quantization.INT8_PTQ, Quantization.INT8_QAT)

    @property
    def needs_calibration(self) -> bool:
        """Its ranges come from representative images."""
        return self is Quantization.INT8_PTQ

    @property
    def needs_qat_model(self) -> bool:
        """It converts the quantization-aware model of a QAT run, not a float one."""
        return self is Quantization.INT8_QAT


class InputDtype(Mode):
    """What the exported model takes."""

    UINT8 = "uint8"  # RGB pixels as a camera gives them; normalization folded into the graph
    FLOAT32 = "float32"  # already normalized by the app

    @property
    def folds_normalization(self) -> bool:
        return self is InputDtype.UINT8


class Output(Mode):
    """What the exported model returns."""

    SCORES = "scores"  # per-class probabilities [1, H, W, C]
    MASK = "mask"  # class ids [1, H, W] uint8, argmax fused

    @property
    def is_mask(self) -> bool:
        return self is Output.MASK


class MaskArgmax(Mode):
    """Where a mask output's argmax runs: at half the input size (each id then covers 2x2
    pixels) or at full size."""

    HALF = "half"
    FULL = "full"


class MixedPrecision(Mode):
    """Training's compute dtype."""

    NONE = "none"
    BFLOAT16 = "bfloat16"  # CPU/TPU
    FLOAT16 = "float16"  # GPU, with loss scaling

    @property
    def keras_policy(self) -> str:
        return "float32" if self is MixedPrecision.NONE else f"mixed_{self.value}"

    @property
    def needs_loss_scaling(self) -> bool:
        return self is MixedPrecision.FLOAT16


class ClassWeighting(Mode):
    """Where training's per-class loss weights come from."""

    NONE = "none"  # train.class_weights as given (None: uniform)
    MEDIAN_FREQUENCY = "median_frequency"  # from the class pixel counts in dataset.json
