"""Named experiments. Each header says the command that runs it.

Variants derive from a base with ``dataclasses.replace``; nothing is copied.
"""

from __future__ import annotations

from dataclasses import replace

from deeplab_tf.configs.base import (
    ASPPConfig,
    BackboneConfig,
    DataConfig,
    DecoderConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
)
from deeplab_tf.configs.registry import register_experiment
from deeplab_tf.data.registry import get_dataset_info

# Classes and ignore labels come from the dataset registry, the one place that knows them.
VOC, CITYSCAPES, ADE20K, CAMVID, SYNTHETIC = (
    get_dataset_info(name) for name in ("pascal_voc", "cityscapes", "ade20k", "camvid", "synthetic")
)

MOBILE_ASPP = ASPPConfig(atrous_rates=())
V3PLUS_DECODER = DecoderConfig(low_level_feature="C2")
SEPARABLE_ASPP = ASPPConfig(separable=True)
SEPARABLE_DECODER = replace(V3PLUS_DECODER, separable=True)
# Validation pads whole images to data.eval_size (default: the split's largest image, found by reading it).
VOC_DATA = DataConfig(  # VOC images are at most 500x500
    dataset=VOC.name, crop_size=(513, 513), batch_size=8, ignore_label=VOC.ignore_label, eval_size=(513, 513)
)
CITYSCAPES_DATA = DataConfig(  # 769x769 training crops of 1024x2048 frames, validated whole
    dataset=CITYSCAPES.name,
    crop_size=(769, 769),
    batch_size=8,
    ignore_label=CITYSCAPES.ignore_label,
    eval_size=(1024, 2048),
)


@register_experiment
def deeplabv3_mnv2_pascal() -> ExperimentConfig:
    """The original DeepLab v3 MobileNetV2 config: width 1.0, output stride 16,
    mobile ASPP (1x1 + image pooling), no decoder, 513x513, PASCAL VOC.

    deeplab-train --experiment=deeplabv3_mnv2_pascal --data_dir=DIR --model_dir=DIR
    """
    return ExperimentConfig(
        name="deeplabv3_mnv2_pascal",
        description="DeepLab v3, MobileNetV2 1.0, OS16, mobile ASPP, PASCAL VOC 513x513",
        model=ModelConfig(
            num_classes=VOC.num_classes,
            input_size=(513, 513),
            backbone=BackboneConfig(name="mobilenet_v2", output_stride=16),
            aspp=MOBILE_ASPP,
        ),
        data=VOC_DATA,
        train=TrainConfig(train_steps=30000, learning_rate=0.007, weight_decay=4e-5),
    )


@register_experiment
def deeplabv3_mnv2_257() -> ExperimentConfig:
    """``deeplabv3_mnv2_pascal`` at width 0.5 and 257x257, this project's way: output stride
    16, channels rounded to 8, half-pixel resizes. The model the official TFLite demo apps
    ship (deeplabv3_257_mv_gpu.tflite) is output stride 8 with the original's rounding and
    resizes: ``deeplabv3_mnv2_dm05_pascal_257``.

    deeplab-train --experiment=deeplabv3_mnv2_257 --data_dir=DIR --model_dir=DIR
    """
    base = deeplabv3_mnv2_pascal()
    return replace(
        base,
        name="deeplabv3_mnv2_257",
        description="DeepLab v3, MobileNetV2 0.5, OS16, mobile ASPP, PASCAL VOC 257x257",
        model=replace(
            base.model, input_size=(257, 257), backbone=replace(base.model.backbone, width_multiplier=0.5)
        ),
        data=replace(base.data, crop_size=(257, 257), batch_size=16),
    )


# The original DeepLab's MobileNetV2 v3 (research/deeplab, its released weights): channels rounded to
# no multiple below width 1.0, the image-pooling branch concatenated first, align-corners resizes.
ORIGINAL_MOBILE_ASPP = replace(MOBILE_ASPP, image_pooling_first=True)


@register_experiment
def deeplabv3_mnv2_dm05_pascal() -> ExperimentConfig:
    """The DeepLab model zoo's ``mobilenetv2_dm05_coco_voc_trainaug``, exactly: MobileNetV2 0.5
    (TF-slim channel rounding), output stride 16 (as the zoo evaluates it; 8 gives the same
    weights denser), mobile ASPP (image pooling first, 256 filters), align-corners resizes,
    PASCAL VOC 21 classes, 513x513. Loads that checkpoint
    (deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01.tar.gz, as downloaded).

    deeplab-import --source=deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01.tar.gz \
        --experiment=deeplabv3_mnv2_dm05_pascal --model_dir=DIR
    """
    base = deeplabv3_mnv2_pascal()
    return replace(
        base,
        name="deeplabv3_mnv2_dm05_pascal",
        description="DeepLab v3, MobileNetV2 0.5, OS16, mobile ASPP, PASCAL VOC 513x513: the model zoo's dm05 model",
        model=replace(
            base.model,
            backbone=replace(base.model.backbone, width_multiplier=0.5, output_stride=16, channel_divisor=1),
            aspp=ORIGINAL_MOBILE_ASPP,
            align_corners=True,
        ),
    )


@register_experiment
def deeplabv3_mnv2_dm05_pascal_257() -> ExperimentConfig:
    """``deeplabv3_mnv2_dm05_pascal`` at 257x257 and output stride 8 (33x33 features): the model
    the official TFLite demo apps ship (deeplabv3_257_mv_gpu.tflite, float, original tensor
    names). Loads that file.

    deeplab-import --source=../shared/reference/deeplabv3_257_mv_gpu.tflite \
        --experiment=deeplabv3_mnv2_dm05_pascal_257 --model_dir=DIR
    """
    base = deeplabv3_mnv2_dm05_pascal()
    return replace(
        base,
        name="deeplabv3_mnv2_dm05_pascal_257",
        description="DeepLab v3, MobileNetV2 0.5, OS8, mobile ASPP, PASCAL VOC 257x257: the TFLite demo apps' model",
        model=replace(base.model, input_size=(257, 257), backbone=replace(base.model.backbone, output_stride=8)),
        data=replace(base.data, crop_size=(257, 257), batch_size=16),
    )


@register_experiment
def deeplabv3_mnv2_dm10_pascal() -> ExperimentConfig:
    """The DeepLab model zoo's ``mobilenetv2_coco_voc_trainaug``, exactly: MobileNetV2 1.0,
    output stride 16, mobile ASPP (image pooling first), align-corners resizes, PASCAL VOC,
    513x513. Loads that checkpoint (deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz).

    deeplab-import --source=deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz \
        --experiment=deeplabv3_mnv2_dm10_pascal --model_dir=DIR
    """
    base = deeplabv3_mnv2_dm05_pascal()
    return replace(
        base,
        name="deeplabv3_mnv2_dm10_pascal",
        description="DeepLab v3, MobileNetV2 1.0, OS16, mobile ASPP, PASCAL VOC 513x513: the model zoo's model",
        model=replace(base.model, backbone=replace(base.model.backbone, width_multiplier=1.0, channel_divisor=8)),
    )


@register_experiment
def deeplabv3plus_mnv2_pascal() -> ExperimentConfig:
    """DeepLab v3+ MobileNetV2 1.0, OS16, full ASPP (dense 3x3 rates 6, 12, 18 +
    image pooling, 256 filters), decoder with a 48-channel low-level projection
    and two separable 3x3 convs of 256 filters, PASCAL VOC 21 classes, 513x513:
    the architecture of Model Garden's ``mnv2_deeplabv3plus`` head with the ASPP
    of its v3+ configs, against which ``deeplab-bench train`` is compared
    (scripts/bench_vs_model_garden.py). Left different: the decoder reads
    block 2's 24-channel output (Model Garden: its 144-channel depthwise
    output) and ASPP dropout is 0.1 (Model Garden: 0).

    deeplab-train --experiment=deeplabv3plus_mnv2_pascal --data_dir=DIR --model_dir=DIR
    """
    base = deeplabv3_mnv2_pascal()
    return replace(
        base,
        name="deeplabv3plus_mnv2_pascal",
        description="DeepLab v3+, MobileNetV2 1.0, OS16, ASPP (6, 12, 18), separable decoder, PASCAL VOC 513x513",
        model=replace(base.model, aspp=ASPPConfig(), decoder=SEPARABLE_DECODER),
    )


@register_experiment
def deeplabv3plus_mnv2_camvid() -> ExperimentConfig:
    """DeepLab v3+ MobileNetV2 on CamVid at full 360x480 frames, 11 classes +
    void (11, ignored); separable ASPP and a 128-channel separable decoder
    (2.6 B multiply-adds) so that it trains from scratch on a CPU;
    median-frequency class weights against CamVid's imbalance. From random
    init, 3200 steps reached 57.3% validation mIoU (datasets/camvid/README.md).

    deeplab-train --experiment=deeplabv3plus_mnv2_camvid --data_dir=DIR --model_dir=DIR
    """
    return ExperimentConfig(
        name="deeplabv3plus_mnv2_camvid",
        description="DeepLab v3+, MobileNetV2 1.0, OS16, separable ASPP + decoder, CamVid 360x480",
        model=ModelConfig(
            num_classes=CAMVID.num_classes,
            input_size=(360, 480),
            backbone=BackboneConfig(name="mobilenet_v2", output_stride=16),
            aspp=SEPARABLE_ASPP,
            decoder=replace(SEPARABLE_DECODER, filters=128),
        ),
        # Crops are whole frames: scales below 1 would fill most of a crop with padding, which
        # skews the batch-norm statistics away from the full frames seen at evaluation.
        data=DataConfig(
            dataset=CAMVID.name,
            crop_size=(360, 480),
            batch_size=8,
            min_scale=1.0,
            max_scale=2.0,
            ignore_label=CAMVID.ignore_label,
            eval_size=(360, 480),
        ),
        train=TrainConfig(
            train_steps=3200,
            learning_rate=0.05,
            warmup_steps=200,
            weight_decay=4e-5,
            checkpoint_every=250,
            eval_every=500,
            class_weighting="median_frequency",
            mixed_precision="bfloat16",
        ),
    )


@register_experiment
def deeplabv3_mnv2_camvid() -> ExperimentConfig:
    """DeepLab v3 on CamVid: ``deeplabv3plus_mnv2_camvid`` without the decoder and
    with the mobile ASPP (1x1 + image pooling) of ``deeplabv3_mnv2_pascal``, so
    its logits come out at stride 16 and are upsampled 16x; the trained v3 on
    which the export's v3 probabilities are measured.

    deeplab-train --experiment=deeplabv3_mnv2_camvid --data_dir=DIR --model_dir=DIR
    """
    base = deeplabv3plus_mnv2_camvid()
    return replace(
        base,
        name="deeplabv3_mnv2_camvid",
        description="DeepLab v3, MobileNetV2 1.0, OS16, mobile ASPP, CamVid 360x480",
        model=replace(base.model, aspp=MOBILE_ASPP, decoder=DecoderConfig()),
    )


@register_experiment
def deeplabv3_mnv2_dm05_camvid() -> ExperimentConfig:
    """The original DeepLab v3 MobileNetV2 0.5 (``deeplabv3_mnv2_dm05_pascal``, output stride 16)
    on CamVid at full 360x480 frames, fine-tuned from released PASCAL weights (the TFLite demo
    model, imported): the classifier starts fresh (12 classes), everything else from PASCAL.
    A fine-tuning recipe: learning rate 0.01 with a short warm-up, median-frequency class weights.

    deeplab-import --source=../shared/reference/deeplabv3_257_mv_gpu.tflite \
        --experiment=deeplabv3_mnv2_dm05_pascal_257 --model_dir=runs/demo_257
    deeplab-train --experiment=deeplabv3_mnv2_dm05_camvid --init_from=runs/demo_257 --data_dir=DIR --model_dir=DIR
    """
    base, original = deeplabv3_mnv2_camvid(), deeplabv3_mnv2_dm05_pascal()
    return replace(
        base,
        name="deeplabv3_mnv2_dm05_camvid",
        description="DeepLab v3, MobileNetV2 0.5 (the original's), OS16, mobile ASPP, CamVid 360x480, from PASCAL",
        model=replace(original.model, num_classes=base.model.num_classes, input_size=base.model.input_size),
        train=replace(base.train, train_steps=2000, learning_rate=0.01, warmup_steps=100),
    )


@register_experiment
def deeplabv3plus_xception65_pascal() -> ExperimentConfig:
    """The DeepLab v3+ paper's model: Xception-65, OS16, ASPP (6, 12, 18),
    separable ASPP and decoder, PASCAL VOC 513x513.

    deeplab-train --experiment=deeplabv3plus_xception65_pascal --data_dir=DIR --model_dir=DIR
    """
    return ExperimentConfig(
        name="deeplabv3plus_xception65_pascal",
        description="DeepLab v3+, Xception-65, OS16, PASCAL VOC 513x513",
        model=ModelConfig(
            num_classes=VOC.num_classes,
            input_size=(513, 513),
            backbone=BackboneConfig(name="xception65", output_stride=16),
            aspp=SEPARABLE_ASPP,
            decoder=SEPARABLE_DECODER,
        ),
        data=VOC_DATA,
    )


@register_experiment
def deeplabv3plus_resnet50_cityscapes() -> ExperimentConfig:
    """DeepLab v3+ ResNet-50 (multi-grid 1, 2, 4), OS16, Cityscapes 19 classes, 769x769 crops.

    deeplab-train --experiment=deeplabv3plus_resnet50_cityscapes --data_dir=DIR --model_dir=DIR
    """
    return ExperimentConfig(
        name="deeplabv3plus_resnet50_cityscapes",
        description="DeepLab v3+, ResNet-50 multi-grid (1,2,4), OS16, Cityscapes 769x769",
        model=ModelConfig(
            num_classes=CITYSCAPES.num_classes,
            input_size=(769, 769),
            backbone=BackboneConfig(name="resnet50", output_stride=16, multi_grid=(1, 2, 4)),
            decoder=V3PLUS_DECODER,
        ),
        data=CITYSCAPES_DATA,
        train=TrainConfig(train_steps=90000, learning_rate=0.01, weight_decay=1e-4),
    )


@register_experiment
def deeplabv3_mnv3large_cityscapes() -> ExperimentConfig:
    """DeepLab v3 MobileNetV3-Large, OS16, mobile ASPP, Cityscapes 19 classes, 769x769.

    deeplab-train --experiment=deeplabv3_mnv3large_cityscapes --data_dir=DIR --model_dir=DIR
    """
    return ExperimentConfig(
        name="deeplabv3_mnv3large_cityscapes",
        description="DeepLab v3, MobileNetV3-Large, OS16, mobile ASPP, Cityscapes 769x769",
        model=ModelConfig(
            num_classes=CITYSCAPES.num_classes,
            input_size=(769, 769),
            backbone=BackboneConfig(name="mobilenet_v3_large", output_stride=16),
            aspp=MOBILE_ASPP,
        ),
        data=CITYSCAPES_DATA,
        train=TrainConfig(train_steps=90000, learning_rate=0.01),
    )


@register_experiment
def deeplabv3plus_mnv2_ade20k() -> ExperimentConfig:
    """DeepLab v3+ MobileNetV2, OS16, ADE20K 150 classes (0 = ignore, mapped to 255), 513x513.

    deeplab-train --experiment=deeplabv3plus_mnv2_ade20k --data_dir=DIR --model_dir=DIR
    """
    base = deeplabv3plus_mnv2_camvid()
    return replace(
        base,
        name="deeplabv3plus_mnv2_ade20k",
        description="DeepLab v3+, MobileNetV2 1.0, OS16, separable ASPP + decoder, ADE20K 513x513",
        model=replace(base.model, num_classes=ADE20K.num_classes, input_size=(513, 513)),
        data=DataConfig(dataset=ADE20K.name, crop_size=(513, 513), batch_size=8, ignore_label=ADE20K.ignore_label),
        train=TrainConfig(train_steps=150000, learning_rate=0.01),
    )


@register_experiment
def deeplabv3plus_mnv2_synthetic() -> ExperimentConfig:
    """The demo: DeepLab v3+ MobileNetV2 0.5 on the embedded synthetic dataset,
    128x128, small enough to train on a laptop CPU in minutes. Batch norm momentum
    0.9: a run of a few hundred steps at a high learning rate changes the weights
    faster than 0.99's moving statistics follow (measured at 0.99: 14.6% val mIoU at
    step 300 where the same weights score 58% on batch statistics; at 0.9: 56%).

    deeplab-demo   (or: deeplab-train --experiment=deeplabv3plus_mnv2_synthetic --data_dir=DIR --model_dir=DIR)
    """
    base = deeplabv3plus_mnv2_camvid()
    return replace(
        base,
        name="deeplabv3plus_mnv2_synthetic",
        description="DeepLab v3+, MobileNetV2 0.5, OS16, synthetic shapes 128x128",
        model=replace(
            base.model,
            num_classes=SYNTHETIC.num_classes,
            input_size=(128, 128),
            backbone=replace(base.model.backbone, width_multiplier=0.5),
            aspp=replace(SEPARABLE_ASPP, filters=128),
            decoder=replace(SEPARABLE_DECODER, filters=128),
            bn_momentum=0.9,
        ),
        data=DataConfig(dataset=SYNTHETIC.name, crop_size=(128, 128), batch_size=16, ignore_label=SYNTHETIC.ignore_label),
        train=TrainConfig(train_steps=2000, learning_rate=0.05, warmup_steps=100),
    )


@register_experiment
def deeplabv3plus_xception65_pascal_original() -> ExperimentConfig:
    """The DeepLab model zoo's ``xception65_coco_voc_trainaug``, exactly: Xception-65 as
    research/deeplab builds it, output stride 16 (8 gives the same weights denser, rates doubled),
    separable ASPP of 256 filters (rates 6, 12, 18 at OS16; image pooling concatenated first),
    separable decoder of 256 filters on a 48-channel projection of the stride-4 features,
    align-corners resizes, PASCAL VOC 21 classes, 513x513. Loads that checkpoint
    (deeplabv3_pascal_train_aug_2018_01_04.tar.gz, as downloaded).

    deeplab-import --source=deeplabv3_pascal_train_aug_2018_01_04.tar.gz \
        --experiment=deeplabv3plus_xception65_pascal_original --model_dir=DIR
    """
    base = deeplabv3plus_xception65_pascal()
    return replace(
        base,
        name="deeplabv3plus_xception65_pascal_original",
        description="DeepLab v3+, Xception-65, OS16, separable ASPP + decoder, PASCAL VOC 513x513: the model zoo's model",
        model=replace(
            base.model,
            aspp=replace(SEPARABLE_ASPP, atrous_rates=None, image_pooling_first=True),
            decoder=replace(SEPARABLE_DECODER, low_level_filters=48, filters=256),
            align_corners=True,
        ),
    )


@register_experiment
def deeplabv3plus_resnet50_cityscapes_original() -> ExperimentConfig:
    """DeepLab v3+ on research/deeplab's ``resnet_v1_50`` (core/resnet_v1_beta.py: 7x7 root,
    mean-subtracted input), exactly as the original builds it with ``--model_variant=resnet_v1_50
    --output_stride=16 --multi_grid=1,2,4 --atrous_rates=6,12,18 --decoder_output_stride=4
    --aspp_with_separable_conv=false --decoder_use_separable_conv=false``: dense ASPP of 256 filters
    (image pooling first), dense decoder (48-channel projection, two 3x3 convs of 256), align-corners
    resizes, Cityscapes 19 classes, 769x769. Loads a TF1 checkpoint of such a run (the model zoo has
    no resnet_v1_50 segmentation model; its resnet_v1_50_2018_05_04 is the ImageNet-only beta variant).

    deeplab-import --source=model.ckpt-90000 \
        --experiment=deeplabv3plus_resnet50_cityscapes_original --model_dir=DIR
    """
    base = deeplabv3plus_resnet50_cityscapes()
    return replace(
        base,
        name="deeplabv3plus_resnet50_cityscapes_original",
        description="DeepLab v3+, the original's resnet_v1_50 multi-grid (1,2,4), OS16, Cityscapes 769x769",
        model=replace(
            base.model,
            backbone=BackboneConfig(name="resnet50_deeplab", output_stride=16, multi_grid=(1, 2, 4)),
            aspp=ASPPConfig(filters=256, atrous_rates=None, separable=False, image_pooling_first=True),
            decoder=replace(V3PLUS_DECODER, low_level_filters=48, filters=256, separable=False),
            align_corners=True,
        ),
    )


@register_experiment
def deeplabv3plus_resnet50_beta_cityscapes() -> ExperimentConfig:
    """DeepLab v3+ on research/deeplab's ``resnet_v1_50_beta`` (core/resnet_v1_beta.py: root of three
    3x3 convs, input in [-1, 1]), otherwise ``deeplabv3plus_resnet50_cityscapes_original``: OS16,
    multi-grid (1, 2, 4), dense ASPP (6, 12, 18) and decoder of 256 filters, align-corners resizes,
    Cityscapes 19 classes, 769x769. Starts from the model zoo's ImageNet checkpoint
    resnet_v1_50_2018_05_04.tar.gz (as downloaded): the backbone loads, the heads start fresh.

    deeplab-train --experiment=deeplabv3plus_resnet50_beta_cityscapes \
        --init_from=resnet_v1_50_2018_05_04.tar.gz --data_dir=DIR --model_dir=DIR
    """
    return _on_backbone(
        deeplabv3plus_resnet50_cityscapes_original(),
        "resnet50_beta_deeplab",
        name="deeplabv3plus_resnet50_beta_cityscapes",
        description="DeepLab v3+, the original's resnet_v1_50_beta multi-grid (1,2,4), OS16, Cityscapes 769x769",
    )


@register_experiment
def deeplabv3plus_resnet101_beta_cityscapes() -> ExperimentConfig:
    """``deeplabv3plus_resnet50_beta_cityscapes`` on ``resnet_v1_101_beta`` (block3 of 23 units).
    Starts from the model zoo's ImageNet checkpoint resnet_v1_101_2018_05_04.tar.gz (as downloaded).

    deeplab-train --experiment=deeplabv3plus_resnet101_beta_cityscapes \
        --init_from=resnet_v1_101_2018_05_04.tar.gz --data_dir=DIR --model_dir=DIR
    """
    base = deeplabv3plus_resnet50_beta_cityscapes()
    description = base.description.replace("resnet_v1_50_beta", "resnet_v1_101_beta")
    return _on_backbone(base, "resnet101_beta_deeplab", "deeplabv3plus_resnet101_beta_cityscapes", description)


def _on_backbone(base: ExperimentConfig, backbone: str, name: str, description: str) -> ExperimentConfig:
    """``base`` on another registered backbone (the rest of the backbone config kept)."""
    model = replace(base.model, backbone=replace(base.model.backbone, name=backbone))
    return replace(base, name=name, description=description, model=model)


# research/deeplab's MobileNetV3 Cityscapes head (g3doc/model_zoo.md's flags: --image_pooling_crop_size=769,769
# --image_pooling_stride=4,5 --aspp_convs_filters=128 --aspp_with_concat_projection=0
# --aspp_with_squeeze_and_excitation=1 --image_se_uses_qsigmoid=1): a 1x1 branch gated by image pooling,
# global on 769x769 crops and smaller inputs, 25x25-feature windows on larger ones (a 3x9 grid at 1025x2049).
MNV3_SEG_ASPP = ASPPConfig(
    filters=128, atrous_rates=(), dropout=0.0, image_pooling_crop_size=(769, 769), image_pooling_stride=(4, 5),
    squeeze_excite=True, projection=False,
)  # fmt: skip
# --decoder_output_stride=8 --decoder_use_sum_merge=1 --decoder_output_is_logits=1 (--decoder_filters=19: the classes)
MNV3_SEG_DECODER = DecoderConfig(low_level_feature="C3", sum_merge=True, output_is_logits=True)


@register_experiment
def deeplabv3plus_mnv3_large_cityscapes() -> ExperimentConfig:
    """The DeepLab model zoo's ``mobilenetv3_large_cityscapes_trainfine``, exactly: research/deeplab's
    ``mobilenet_v3_large_seg`` at output stride 32, ASPP of a 128-filter 1x1 branch gated by image
    pooling (25x25 windows, stride 4x5, hard sigmoid), a sum-merge decoder whose output at stride 8
    is the logits (the stride-8 depthwise features projected to 19 classes, added to the upsampled
    ASPP output projected alike), align-corners resizes, Cityscapes 19 classes, trained on 769x769
    crops and evaluated on 1025x2049 frames as the zoo did (72.41% val mIoU there). Loads that
    checkpoint (deeplab_mnv3_large_cityscapes_trainfine_2019_11_15.tar.gz, as downloaded).

    deeplab-import --source=deeplab_mnv3_large_cityscapes_trainfine_2019_11_15.tar.gz \\
        --experiment=deeplabv3plus_mnv3_large_cityscapes --model_dir=DIR
    """
    base = deeplabv3_mnv3large_cityscapes()
    return replace(
        base,
        name="deeplabv3plus_mnv3_large_cityscapes",
        description="DeepLab, MobileNetV3-Large (seg), OS32, gated ASPP, logits decoder at OS8, Cityscapes: the model zoo's",
        model=replace(
            base.model,
            backbone=BackboneConfig(name="mobilenet_v3_large_seg", output_stride=32),
            aspp=MNV3_SEG_ASPP,
            decoder=MNV3_SEG_DECODER,
            align_corners=True,
        ),
        data=replace(base.data, eval_size=(1025, 2049)),
    )


@register_experiment
def deeplabv3plus_mnv3_small_cityscapes() -> ExperimentConfig:
    """The DeepLab model zoo's ``mobilenetv3_small_cityscapes_trainfine``, exactly:
    ``deeplabv3plus_mnv3_large_cityscapes`` on research/deeplab's ``mobilenet_v3_small_seg`` (68.99%
    val mIoU in the zoo). Loads that checkpoint (deeplab_mnv3_small_cityscapes_trainfine_2019_11_15.tar.gz).

    deeplab-import --source=deeplab_mnv3_small_cityscapes_trainfine_2019_11_15.tar.gz \\
        --experiment=deeplabv3plus_mnv3_small_cityscapes --model_dir=DIR
    """
    large = deeplabv3plus_mnv3_large_cityscapes()
    backbone = replace(large.model.backbone, name="mobilenet_v3_small_seg")
    description = "DeepLab, MobileNetV3-Small (seg), OS32, gated ASPP, logits decoder at OS8, Cityscapes: the model zoo's"
    return replace(large, name="deeplabv3plus_mnv3_small_cityscapes", description=description,
                   model=replace(large.model, backbone=backbone))  # fmt: skip
