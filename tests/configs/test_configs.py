import dataclasses
import json

import pytest

from deeplab_tf.configs import (
    ExperimentConfig,
    from_dict,
    get_experiment,
    list_experiments,
    override,
    to_dict,
)

REQUIRED = {
    "deeplabv3_mnv2_pascal",
    "deeplabv3_mnv2_257",
    "deeplabv3plus_mnv2_camvid",
    "deeplabv3_mnv2_camvid",
    "deeplabv3plus_xception65_pascal",
    "deeplabv3plus_resnet50_cityscapes",
    "deeplabv3_mnv3large_cityscapes",
    "deeplabv3plus_mnv2_ade20k",
    "deeplabv3plus_mnv2_synthetic",
    "deeplabv3_mnv2_dm05_pascal",
    "deeplabv3_mnv2_dm05_pascal_257",
    "deeplabv3_mnv2_dm10_pascal",
    "deeplabv3_mnv2_dm05_camvid",
    "deeplabv3plus_xception65_pascal_original",
    "deeplabv3plus_resnet50_cityscapes_original",
    "deeplabv3plus_mnv3_large_cityscapes",
    "deeplabv3plus_mnv3_small_cityscapes",
}


def test_required_experiments_are_registered():
    assert REQUIRED <= set(list_experiments())


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("smoke", [False, True])
def test_round_trip_through_json(name, smoke):
    config = get_experiment(name, smoke=smoke)
    restored = from_dict(ExperimentConfig, json.loads(json.dumps(to_dict(config))))
    assert restored == config
    assert isinstance(restored.model.input_size, tuple)


def test_smoke_variant_is_small_and_keeps_the_architecture():
    full = get_experiment("deeplabv3plus_mnv2_camvid")
    smoke = get_experiment("deeplabv3plus_mnv2_camvid", smoke=True)
    assert smoke.model.input_size == (65, 65)
    assert smoke.train.train_steps <= 2
    assert smoke.model.num_classes == full.model.num_classes
    assert smoke.model.decoder.low_level_feature == full.model.decoder.low_level_feature
    assert smoke.model.backbone.output_stride == full.model.backbone.output_stride


@pytest.mark.parametrize(
    "name, eval_size",
    [
        ("deeplabv3plus_resnet50_cityscapes", (1024, 2048)),  # 769x769 crops of 1024x2048 frames
        ("deeplabv3_mnv3large_cityscapes", (1024, 2048)),
        ("deeplabv3_mnv2_257", (513, 513)),  # VOC images are up to 500x500
        ("deeplabv3plus_xception65_pascal", (513, 513)),
        ("deeplabv3plus_mnv2_camvid", (360, 480)),
        ("deeplabv3_mnv2_camvid", (360, 480)),
        ("deeplabv3plus_mnv2_ade20k", None),  # sizes vary: the largest validation image
    ],
)
def test_experiments_validate_whole_images_of_their_dataset(name, eval_size):
    assert get_experiment(name).data.eval_size == eval_size
    assert get_experiment(name, smoke=True).data.eval_size is None  # a test's records set it


def test_the_camvid_v3_experiment_is_the_camvid_recipe_without_the_decoder():
    v3, v3plus = get_experiment("deeplabv3_mnv2_camvid"), get_experiment("deeplabv3plus_mnv2_camvid")
    assert v3.model.decoder.low_level_feature is None and v3.model.aspp.atrous_rates == ()
    assert v3.model.aspp.image_pooling and v3.model.input_size == v3plus.model.input_size
    assert (v3.data, v3.train) == (v3plus.data, v3plus.train)


def test_the_pascal_experiment_is_the_original_mobilenet_v2_config():
    model = get_experiment("deeplabv3_mnv2_pascal").model
    assert model.backbone.name == "mobilenet_v2" and model.backbone.width_multiplier == 1.0
    assert model.backbone.output_stride == 16
    assert model.aspp.atrous_rates == () and model.aspp.image_pooling
    assert model.decoder.low_level_feature is None
    assert model.input_size == (513, 513) and model.num_classes == 21
    assert get_experiment("deeplabv3_mnv2_257").model.input_size == (257, 257)


def test_unknown_experiment_lists_known_ones():
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*deeplabv3_mnv2_pascal"):
        get_experiment("nope")


def test_override_parses_strings_to_field_types():
    config = get_experiment("deeplabv3_mnv2_pascal")
    changed = override(
        config,
        {
            "model.backbone.output_stride": "8",
            "model.input_size": "360,480",
            "train.learning_rate": "0.01",
            "model.aspp.atrous_rates": "12,24,36",
            "model.decoder.low_level_feature": "C2",
            "model.aspp.separable": "true",
            "model.backbone.weights": "none",
        },
    )
    assert changed.model.backbone.output_stride == 8
    assert changed.model.input_size == (360, 480)
    assert changed.train.learning_rate == 0.01
    assert changed.model.aspp.atrous_rates == (12, 24, 36)
    assert changed.model.decoder.low_level_feature == "C2"
    assert changed.model.aspp.separable is True
    assert changed.model.backbone.weights is None
    assert config.model.backbone.output_stride == 16  # the original is untouched


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("model.backbone.stride", "8", "unknown config key 'model.backbone.stride'"),
        ("model.nope.x", "1", "unknown config key"),
        ("model.backbone.output_stride", "eight", "must be int"),
        ("model.backbone.output_stride", "8.5", "must be an integer"),
        ("model.input_size", "1,2,3", "needs 2 values"),
        ("model.aspp.separable", "maybe", "true or false"),
    ],
)
def test_bad_overrides_name_the_problem(key, value, message):
    with pytest.raises(ValueError, match=message):
        override(get_experiment("deeplabv3_mnv2_pascal"), {key: value})


def test_from_dict_rejects_unknown_fields():
    data = to_dict(get_experiment("deeplabv3_mnv2_pascal"))
    data["model"]["colour"] = "blue"
    with pytest.raises(ValueError, match=r"ModelConfig has no field\(s\) \['colour'\]"):
        from_dict(ExperimentConfig, data)


def test_configs_are_frozen():
    config = get_experiment("deeplabv3_mnv2_pascal")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.num_classes = 3
