"""Typed modes: checked once when a config or options object is built, strings in records."""

import json

import pytest

from deeplab_tf.artifacts.modes import ClassWeighting, MixedPrecision
from deeplab_tf.configs import ExportConfig, Quantization, TrainConfig, from_dict, override, to_dict
from deeplab_tf.configs.base import ExperimentConfig
from deeplab_tf.export.export import ExportOptions
from deeplab_tf.export.spec import ExportSpec


def test_quantization_properties():
    assert [q.value for q in Quantization if q.is_int8] == ["int8_ptq", "int8_qat"]
    assert [q.value for q in Quantization if q.needs_calibration] == ["int8_ptq"]
    assert [q.value for q in Quantization if q.needs_qat_model] == ["int8_qat"]


def test_export_config_is_checked_when_built_and_records_plain_strings():
    config = ExportConfig(quantization="int8_ptq", output="mask")
    assert config.quantization is Quantization.INT8_PTQ and config.output.is_mask
    assert json.dumps(to_dict(config)) == (
        '{"quantization": "int8_ptq", "input_dtype": "uint8", "output": "mask", "input_size": null}'
    )
    assert from_dict(ExportConfig, to_dict(config)) == config
    with pytest.raises(ValueError, match=r"export.quantization must be one of \('none', .*\), got 'int4'"):
        ExportConfig(quantization="int4")
    with pytest.raises(ValueError, match="export.output must be one of"):
        override(ExperimentConfig(), {"export.output": "logits"})


def test_train_modes_are_checked_when_built_and_records_plain_strings():
    train = TrainConfig(mixed_precision="float16", class_weighting="median_frequency")
    assert train.mixed_precision is MixedPrecision.FLOAT16 and train.mixed_precision.keras_policy == "mixed_float16"
    assert train.class_weighting is ClassWeighting.MEDIAN_FREQUENCY
    record = to_dict(train)
    assert (record["mixed_precision"], record["class_weighting"]) == ("float16", "median_frequency")
    assert type(record["mixed_precision"]) is str and from_dict(TrainConfig, record) == train
    with pytest.raises(ValueError, match=r"train.mixed_precision must be one of \('none', .*\), got 'fp8'"):
        TrainConfig(mixed_precision="fp8")
    with pytest.raises(ValueError, match="train.class_weighting must be one of"):
        override(ExperimentConfig(), {"train.class_weighting": "inverse"})


def test_export_spec_resolves_options_over_the_config():
    config = ExperimentConfig(name="exp", export=ExportConfig(quantization="int8_qat", input_dtype="float32"))
    spec = ExportSpec.resolve(config, ExportOptions(quantization="fp16", name=None), "/run/best/ckpt-12")
    assert (spec.quantization, spec.input_dtype, spec.output) == ("fp16", "float32", "scores")
    assert spec.size == (513, 513) and spec.step == 12 and spec.version == "step12"
    assert spec.name == "exp_513x513_fp16_scores_float_input"
    assert spec.convert_options(None).quantization is Quantization.FP16
    assert spec.card_fields()["description"].startswith("exp; checkpoint step 12; fp16; float32 RGB input 513x513")
    saved = ExportSpec.resolve(config, ExportOptions(format="saved_model"), "/run/ckpt/ckpt-1")
    assert saved.quantization is Quantization.NONE
