"""What one export is, decided once: ``ExportSpec.resolve(config, options, checkpoint)``.

The experiment's ``export`` config gives the defaults, ``ExportOptions`` override them; the
resolved spec then feeds the converter (``convert_options``), the TFLite metadata
(``model_info``), the model card (``card_fields``) and the file name (``name``), so that
none of them resolves a field again or sees it differently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from deeplab_tf.artifacts.model_dir import checkpoint_step
from deeplab_tf.artifacts.modes import InputDtype, MaskArgmax, Output, Quantization
from deeplab_tf.configs.base import ExperimentConfig
from deeplab_tf.export.conversion import ConvertOptions
from deeplab_tf.export.metadata import ModelInfo
from deeplab_tf.models import get_backbone_spec
from deeplab_tf.models.backbones.base import Preprocessing

FORMATS = ("tflite", "saved_model")


@dataclasses.dataclass(frozen=True)
class ExportSpec:
    """One export, every choice resolved.

    Attributes:
      format: "tflite" or "saved_model".
      quantization, input_dtype, output, mask_argmax: the modes (a SavedModel is float).
      size: (height, width) exported.
      data_dir: records for calibration and evaluation, or None.
      calibration_batches: training-pipeline batches for int8_ptq.
      name: file stem.
      experiment: the experiment's name; experiment_description its description.
      checkpoint: the checkpoint exported; ``step`` its training step.
      preprocessing: the backbone's pixel normalization.
    """

    format: str
    quantization: Quantization
    input_dtype: InputDtype
    output: Output
    mask_argmax: MaskArgmax
    size: tuple[int, int]
    data_dir: str | None
    calibration_batches: int
    name: str
    experiment: str
    experiment_description: str
    checkpoint: str
    preprocessing: Preprocessing

    @classmethod
    def resolve(cls, config: ExperimentConfig, options, checkpoint: str) -> ExportSpec:
        """The spec of exporting ``checkpoint`` of ``config`` with ``options`` (``ExportOptions``:
        None fields take ``config.export``; a SavedModel is float)."""
        export = config.export  # both already checked: ExportConfig and ExportOptions parse their modes
        float_only = options.format == "saved_model"
        quantization = options.quantization or (Quantization.NONE if float_only else export.quantization)
        input_dtype = options.input_dtype or export.input_dtype
        output = options.output or export.output
        size = tuple(options.input_size or export.input_size or config.model.input_size)
        return cls(
            format=options.format,
            quantization=quantization,
            input_dtype=input_dtype,
            output=output,
            mask_argmax=options.mask_argmax,
            size=size,
            data_dir=options.data_dir or config.data.data_dir,
            calibration_batches=options.calibration_batches or config.quant.calibration_batches,
            name=options.name or default_name(config, size, quantization, output, input_dtype),
            experiment=config.name,
            experiment_description=config.description,
            checkpoint=checkpoint,
            preprocessing=get_backbone_spec(config.model.backbone.name).preprocessing,
        )

    @property
    def step(self) -> int:
        return checkpoint_step(self.checkpoint)

    @property
    def version(self) -> str:
        return f"step{self.step}"

    @property
    def description(self) -> str:
        """One line for the metadata and the card: what the file is and how it was made."""
        return (
            f"{self.experiment_description or self.experiment}; checkpoint step {self.step}; {self.quantization}; "
            f"{self.input_dtype} RGB input {self.size[0]}x{self.size[1]}; {self.output} output"
            + (f" (argmax at {self.mask_argmax} size)" if self.output.is_mask else "")
        )

    def convert_options(self, calibration: Callable[[], Iterable[np.ndarray]] | None = None) -> ConvertOptions:
        return ConvertOptions(
            self.quantization, self.input_dtype, self.output, self.preprocessing, calibration, self.mask_argmax
        )

    def model_info(self, class_names: Sequence[str]) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            version=self.version,
            description=self.description,
            labels=tuple(class_names),
            input_dtype=self.input_dtype,
            mean=tuple(self.preprocessing.mean),
            std=tuple(self.preprocessing.std),
            output=self.output,
        )

    def card_fields(self) -> dict:
        """The card's fields that the spec decides (``build_model_card`` keywords)."""
        return {
            "stem": self.name,
            "name": self.name,
            "version": self.version,
            "experiment": self.experiment,
            "description": self.description,
            "quantization": self.quantization,
            "mean": self.preprocessing.mean,
            "std": self.preprocessing.std,
        }


def default_name(config: ExperimentConfig, size: Sequence[int], quantization: str, output: str, input_dtype: str) -> str:
    """``{experiment}_{H}x{W}_{quantization}_{output}``, ``_float_input`` appended for float32 input."""
    experiment = config.name.replace(":", "_")
    suffix = "" if InputDtype(input_dtype).folds_normalization else "_float_input"
    return f"{experiment}_{size[0]}x{size[1]}_{quantization}_{output}{suffix}"
