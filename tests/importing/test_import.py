"""deeplab-import: released DeepLab weights (float .tflite, TF1 checkpoints, model-zoo tarballs)
into Keras models of the same architecture, checked against the real reference model's outputs."""

import json
import os
import pathlib
import tarfile

import cv2
import numpy as np
import pytest
import tensorflow as tf

from deeplab_tf.configs import get_experiment, override
from deeplab_tf.evaluation.evaluator import load_trained_model
from deeplab_tf.export.export import find_checkpoint
from deeplab_tf.importing import mapping
from deeplab_tf.importing.importer import IMPORT_FILE, import_weights
from deeplab_tf.importing.sources import read_source
from deeplab_tf.models import build_deeplab
from deeplab_tf.models.backbones.mobilenet_v2 import make_divisible

REFERENCE = "reference/deeplabv3_257_mv_gpu.tflite"
EXPERIMENT_257 = "deeplabv3_mnv2_dm05_pascal_257"
FRAMES = 20
# Measured on 20 CamVid val frames (the first in file order) at 257x257: the align-corners import
# agrees with the reference on every pixel, logits at most 7.1e-05 apart (float summation order);
# with half-pixel resizes instead, 99.95% of pixels on average (worst frame 99.89%), logits 0.86 apart.
AGREEMENT, LOGIT_ATOL = 0.999, 1e-3
HALF_PIXEL_AGREEMENT = 0.998
# Batch-norm epsilons of the original code (TF-slim mobilenet: slim.batch_norm's default; the
# DeepLab heads: model.py's batch_norm_params), written into the test checkpoints independently
# of deeplab_tf.importing.mapping.
SLIM_EPSILON, HEAD_EPSILON = 1e-3, 1e-5


# --- the reference model and real frames -------------------------------------------------


@pytest.fixture(scope="module")
def reference(shared_dir):
    from ai_edge_litert.interpreter import Interpreter

    path = shared_dir / REFERENCE
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    frames = sorted((shared_dir / "datasets" / "camvid" / "val").glob("*.png"))[:FRAMES]
    assert len(frames) == FRAMES
    inputs = np.stack([_normalized(frame) for frame in frames])
    outputs = []
    for x in inputs:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0].copy())
    return path, inputs, np.stack(outputs)


def _normalized(frame: pathlib.Path) -> np.ndarray:
    rgb = cv2.cvtColor(cv2.imread(str(frame)), cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (257, 257), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 127.5 - 1


def _agreement(model, reference_outputs, inputs):
    logits = model.predict(inputs, batch_size=4, verbose=0)
    per_image = (logits.argmax(-1) == reference_outputs.argmax(-1)).mean(axis=(1, 2))
    return per_image, float(np.abs(logits - reference_outputs).max())


def test_reference_tflite_imports_into_an_ordinary_model_dir(reference, tmp_path):
    path, inputs, outputs = reference
    config = get_experiment(EXPERIMENT_257)
    record = import_weights(str(path), config, str(tmp_path / "run"))
    assert record["kind"] == "tflite" and record["variables_used"] == 110 and record["license"] == "Apache-2.0"
    assert sorted(os.listdir(tmp_path / "run")) == ["ckpt", "experiment.json", IMPORT_FILE]
    assert os.listdir(tmp_path) == ["run"]  # no temporary folder left
    model, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "run")))
    per_image, worst = _agreement(model, outputs, inputs)
    assert per_image.min() >= AGREEMENT, per_image
    assert worst <= LOGIT_ATOL
    bn = model.get_layer("block_5_project_BN")  # folded: an identity batch norm that trains
    np.testing.assert_array_equal(bn.gamma.numpy(), 1.0)
    np.testing.assert_allclose(bn.moving_variance.numpy() + bn.epsilon, 1.0, rtol=1e-6)
    assert bn.trainable and bn.gamma.trainable


def test_half_pixel_resizes_agree_less(reference):
    path, inputs, outputs = reference
    config = override(get_experiment(EXPERIMENT_257), {"model.align_corners": False}).model
    model = build_deeplab(config)
    mapping.apply(model, mapping.assign(model, config, read_source(str(path))))
    per_image, worst = _agreement(model, outputs, inputs)
    assert HALF_PIXEL_AGREEMENT <= per_image.mean() < 1.0 and worst > 0.1


# --- TF1 checkpoints with the original names ----------------------------------------------


def original_mobilenet_v2_variables(width: float, rng: np.random.RandomState, classes: int = 21) -> dict:
    """The variables of research/deeplab's MobileNetV2 v3 (mobile ASPP) checkpoint, by TF-slim's
    naming and shapes, written out from the original rules (not from deeplab_tf.importing)."""
    divisor = 8 if width == 1.0 else 1
    depth = lambda d: make_divisible(d * width, divisor)  # noqa: E731
    values = {}

    def conv(scope, shape, bn=True, depthwise=False):
        values[f"{scope}/{'depthwise_weights' if depthwise else 'weights'}"] = rng.normal(0, 0.1, shape)
        channels = shape[2] if depthwise else shape[3]
        if bn:
            for name, value in [("gamma", rng.uniform(0.5, 1.5, channels)), ("beta", rng.normal(0, 0.1, channels)),
                                ("moving_mean", rng.normal(0, 0.1, channels)),
                                ("moving_variance", rng.uniform(0.5, 1.5, channels))]:  # fmt: skip
                values[f"{scope}/BatchNorm/{name}"] = value
        return channels

    channels = conv("MobilenetV2/Conv", [3, 3, 3, depth(32)])
    conv("MobilenetV2/expanded_conv/depthwise", [3, 3, channels, 1], depthwise=True)
    channels = conv("MobilenetV2/expanded_conv/project", [1, 1, channels, depth(16)])
    block = 1
    for filters, repeats in ((24, 2), (32, 3), (64, 4), (96, 3), (160, 3), (320, 1)):
        for _ in range(repeats):
            scope = f"MobilenetV2/expanded_conv_{block}"
            expanded = conv(f"{scope}/expand", [1, 1, channels, make_divisible(6 * channels, 8)])
            conv(f"{scope}/depthwise", [3, 3, expanded, 1], depthwise=True)
            channels = conv(f"{scope}/project", [1, 1, expanded, depth(filters)])
            block += 1
    conv("image_pooling", [1, 1, channels, 256])
    conv("aspp0", [1, 1, channels, 256])
    conv("concat_projection", [1, 1, 512, 256])
    values["logits/semantic/weights"] = rng.normal(0, 0.1, [1, 1, 256, classes])
    values["logits/semantic/biases"] = rng.normal(0, 0.1, [classes])
    return {name: np.asarray(value, np.float32) for name, value in values.items()}


def write_tf1_checkpoint(prefix: pathlib.Path, values: dict, step: int = 30000) -> str:
    """A checkpoint as research/deeplab's training wrote it: tf.compat.v1 Saver, with the
    optimizer's Momentum slots and global_step beside the weights."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(value, name=name) for name, value in values.items()]
        first = next(iter(values))
        variables.append(tf.compat.v1.Variable(np.zeros_like(values[first]), name=f"{first}/Momentum"))
        variables.append(tf.compat.v1.Variable(np.int64(step), name="global_step"))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, str(prefix), global_step=step, write_meta_graph=False)


def unfolded_reference(path) -> dict:
    """The reference .tflite's weights as the unfolded TF1 variables that give the same network:
    kernels in TF1 layouts, each folded bias as batch norm (gamma 1, beta = bias, mean 0,
    variance 1 - eps of that scope's original batch norm)."""
    values = {}
    for name, value in read_source(str(path)).values.items():
        scope, leaf = name.rsplit("/", 1)
        if leaf == "weights" and scope != "logits/semantic":
            values[name] = np.transpose(value, (1, 2, 3, 0))
        elif leaf == "depthwise_weights":
            values[name] = value[0][..., None]
        elif scope == "logits/semantic":
            values[f"{scope}/{'biases' if leaf == 'Conv2D_bias' else 'weights'}"] = (
                value if leaf == "Conv2D_bias" else np.transpose(value, (1, 2, 3, 0))
            )
        else:
            epsilon = SLIM_EPSILON if scope.startswith("MobilenetV2/") else HEAD_EPSILON
            values.update({f"{scope}/BatchNorm/gamma": np.ones_like(value), f"{scope}/BatchNorm/beta": value,
                           f"{scope}/BatchNorm/moving_mean": np.zeros_like(value),
                           f"{scope}/BatchNorm/moving_variance": np.full_like(value, 1 - epsilon)})  # fmt: skip
    return values


def test_tf1_checkpoint_of_the_reference_gives_its_outputs(reference, tmp_path):
    path, inputs, outputs = reference
    values = unfolded_reference(path)
    prefix = write_tf1_checkpoint(tmp_path / "ckpt" / "model.ckpt", values)
    assert prefix.endswith("model.ckpt-30000")
    config = get_experiment(EXPERIMENT_257)
    record = import_weights(prefix, config, str(tmp_path / "run"))
    assert record["kind"] == "tf1_checkpoint" and record["variables_used"] == len(values)
    assert sorted(record["variables_ignored"]) == sorted([f"{next(iter(values))}/Momentum", "global_step"])
    model, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "run")))
    per_image, worst = _agreement(model, outputs, inputs)
    assert per_image.min() >= AGREEMENT and worst <= LOGIT_ATOL


@pytest.mark.parametrize(
    "width, experiment", [(1.0, "deeplabv3_mnv2_dm10_pascal"), (0.5, "deeplabv3_mnv2_dm05_pascal")]
)
def test_tf1_checkpoint_every_variable_lands_where_the_original_had_it(width, experiment, tmp_path):
    values = original_mobilenet_v2_variables(width, np.random.RandomState(0))
    prefix = write_tf1_checkpoint(tmp_path / "model.ckpt", values)
    config = override(get_experiment(experiment), {"model.input_size": "129,129"})
    record = import_weights(prefix, config, str(tmp_path / "run"))
    assert record["variables_used"] == len(values)
    assert sorted(record["variables_ignored"]) == sorted([f"{next(iter(values))}/Momentum", "global_step"])
    model, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "run")))
    np.testing.assert_array_equal(model.get_layer("block_7_expand").kernel.numpy(),
                                  values["MobilenetV2/expanded_conv_7/expand/weights"])  # fmt: skip
    np.testing.assert_array_equal(model.get_layer("expanded_conv_depthwise").depthwise_kernel.numpy(),
                                  values["MobilenetV2/expanded_conv/depthwise/depthwise_weights"])  # fmt: skip
    np.testing.assert_array_equal(model.get_layer("logits_conv").bias.numpy(), values["logits/semantic/biases"])
    np.testing.assert_array_equal(model.get_layer("aspp_pool_conv").kernel.numpy(), values["image_pooling/weights"])
    # A batch norm computes as the original's whatever the epsilons: heads 1e-5, ours 1e-3.
    for layer, scope, epsilon in [("aspp_project_bn", "concat_projection", HEAD_EPSILON),
                                  ("block_3_depthwise_BN", "MobilenetV2/expanded_conv_3/depthwise", SLIM_EPSILON)]:  # fmt: skip
        bn, x = (
            model.get_layer(layer),
            np.random.RandomState(1).normal(0, 1, (4, values[f"{scope}/BatchNorm/beta"].size)),
        )
        original = values[f"{scope}/BatchNorm/gamma"] * (x - values[f"{scope}/BatchNorm/moving_mean"]) / np.sqrt(
            values[f"{scope}/BatchNorm/moving_variance"] + epsilon) + values[f"{scope}/BatchNorm/beta"]  # fmt: skip
        computed = bn(x.astype(np.float32)[:, None, None, :], training=False).numpy()[:, 0, 0]
        np.testing.assert_allclose(computed, original, rtol=1e-5, atol=1e-5)


def test_model_zoo_tarball_is_read_in_memory(tmp_path):
    values = original_mobilenet_v2_variables(0.5, np.random.RandomState(2))
    folder = tmp_path / "zoo" / "deeplabv3_mnv2_dm05_pascal_trainaug"
    prefix = write_tf1_checkpoint(folder / "model.ckpt", values)
    (folder / "frozen_inference_graph.pb").write_bytes(b"graph")
    archive = tmp_path / "deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    before = sorted(p.name for p in tmp_path.iterdir())
    config = override(get_experiment("deeplabv3_mnv2_dm05_pascal"), {"model.input_size": "129,129"})
    record = import_weights(str(archive), config, str(tmp_path / "from_tar"))
    assert record["kind"] == "tarball" and record["member"] == "deeplabv3_mnv2_dm05_pascal_trainaug/model.ckpt-30000"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "from_tar"])  # nothing extracted
    assert not tf.io.gfile.glob("ram://deeplab_import_*")
    import_weights(prefix, config, str(tmp_path / "from_ckpt"))
    a, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "from_tar")))
    b, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "from_ckpt")))
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert json.loads((tmp_path / "from_tar" / IMPORT_FILE).read_text())["sha256"] != record["sha256"][::-1]


# --- errors: all or nothing --------------------------------------------------------------


@pytest.fixture
def dm05_values():
    return original_mobilenet_v2_variables(0.5, np.random.RandomState(3))


def _config():
    return override(get_experiment("deeplabv3_mnv2_dm05_pascal"), {"model.input_size": "129,129"})


def test_unmatched_variables_are_listed_on_both_sides_and_nothing_is_written(dm05_values, tmp_path):
    values = dict(dm05_values)
    values["MobilenetV2/extra_layer/weights"] = np.zeros((1, 1, 8, 8), np.float32)
    del values["aspp0/BatchNorm/moving_mean"]
    prefix = write_tf1_checkpoint(tmp_path / "ckpt" / "model.ckpt", values)
    with pytest.raises(mapping.ImportMismatch) as error:
        import_weights(prefix, _config(), str(tmp_path / "run"))
    message = str(error.value)
    assert "nothing was imported" in message
    assert "1 weights of the model without a source variable" in message and "aspp0/BatchNorm/moving_mean" in message
    assert "1 source variables no weight takes" in message and "MobilenetV2/extra_layer/weights" in message
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_an_experiment_of_another_shape_fails_on_the_first_mismatch(dm05_values, tmp_path):
    prefix = write_tf1_checkpoint(tmp_path / "ckpt" / "model.ckpt", dm05_values)
    config = override(get_experiment("deeplabv3_mnv2_dm10_pascal"), {"model.input_size": "129,129"})
    with pytest.raises(ValueError, match=r"MobilenetV2/Conv/weights of shape \[3, 3, 3, 16\] does not fit "
                                         r"Conv1/kernel:0 of shape \[3, 3, 3, 32\]"):  # fmt: skip
        import_weights(prefix, config, str(tmp_path / "run"))
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_bad_sources_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights at"):
        read_source(str(tmp_path / "missing.ckpt"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="neither a .tflite, a .tar.gz nor a TF1 checkpoint"):
        read_source(str(tmp_path / "notes.txt"))
    (tmp_path / "bad.tflite").write_bytes(b"0123456789")
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        read_source(str(tmp_path / "bad.tflite"))
    with tarfile.open(tmp_path / "empty.tar.gz", "w:gz"):
        pass
    with pytest.raises(ValueError, match="exactly one TF1 checkpoint"):
        read_source(str(tmp_path / "empty.tar.gz"))
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0)).write(str(tmp_path / "tf2" / "ckpt"))
    with pytest.raises(ValueError, match="object-based"):
        read_source(ckpt)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        import_weights(ckpt, _config(), str(tmp_path / "run"))


def test_a_quantized_tflite_is_refused():
    contract = pathlib.Path(__file__).resolve().parents[2] / "mobile" / "contract" / "models" / "smoke_int8.tflite"
    with pytest.raises(ValueError, match="quantized model"):
        read_source(str(contract))


# --- fine-tuning from imported weights ----------------------------------------------------


def test_init_from_with_another_class_count_trains_and_evaluates(dm05_values, records, tmp_path):
    from deeplab_tf.evaluation.evaluator import evaluate
    from deeplab_tf.importing.initial import initial_weights_fn, read_init_from, source_model, transfer
    from deeplab_tf.models import get_backbone_spec
    from deeplab_tf.training.trainer import train

    prefix = write_tf1_checkpoint(tmp_path / "ckpt" / "model.ckpt", dm05_values)
    config = override(
        get_experiment("deeplabv3_mnv2_dm05_pascal"),
        {"model.input_size": "65,65", "data.crop_size": "65,65", "data.dataset": "synthetic", "model.num_classes": 6,
         "data.data_dir": str(records), "data.batch_size": 2, "data.eval_size": "none", "train.train_steps": 2,
         "train.checkpoint_every": 2, "train.eval_every": -1},
    )  # fmt: skip
    lines = []
    init = read_init_from(prefix)
    result = train(config, str(tmp_path / "run"), initial_weights=initial_weights_fn(init, config, lines.append))
    assert result["step"] == 2
    assert lines[0].startswith(f"init_from {prefix}: loaded ") and "1 not loaded" in lines[0]
    assert lines[1].startswith("  not loaded: logits_conv: shapes [[1, 1, 256, 21], [21]] in the source")
    trained, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "run")))
    imported = source_model(init, config)
    report = transfer(build_deeplab(config.model), imported)
    assert [name for name, _ in report["not_loaded"]] == ["logits_conv"]
    # two steps moved the weights from the imported ones, and the run evaluates
    assert not np.array_equal(
        trained.get_layer("aspp_project").kernel.numpy(), dm05_values["concat_projection/weights"]
    )
    preprocessing = get_backbone_spec(config.model.backbone.name).preprocessing
    metrics = evaluate(trained, config.model, config.data, preprocessing, (65, 65))
    assert 0.0 <= metrics["miou"] <= 1.0 and len(metrics["per_class_iou"]) == 6


def test_weights_origin_follows_imports_qat_and_init_from(dm05_values, tmp_path):
    from deeplab_tf.artifacts.files import write_json_atomic
    from deeplab_tf.artifacts.model_dir import INIT_FROM_FILE, ModelDir
    from deeplab_tf.configs.records import save_experiment
    from deeplab_tf.importing.initial import init_from_record, read_init_from

    prefix = write_tf1_checkpoint(tmp_path / "zoo" / "model.ckpt", dm05_values)
    import_weights(prefix, _config(), str(tmp_path / "imported"))
    origin = ModelDir(tmp_path / "imported").weights_origin()
    assert origin["source"] == "model.ckpt-30000" and origin["license"] == "Apache-2.0" and len(origin["sha256"]) == 64
    save_experiment(str(tmp_path / "qat"), _config(), {"float_model_dir": str(tmp_path / "imported"),
                                                                    "float_checkpoint": "x"})  # fmt: skip
    assert ModelDir(tmp_path / "qat").weights_origin() == origin
    for name, init_from in [("from_dir", tmp_path / "imported"), ("from_file", prefix)]:
        (tmp_path / name).mkdir()
        write_json_atomic(str(tmp_path / name / INIT_FROM_FILE), init_from_record(read_init_from(str(init_from))))
        assert ModelDir(tmp_path / name).weights_origin() == origin
    save_experiment(str(tmp_path / "scratch"), _config())
    assert ModelDir(tmp_path / "scratch").weights_origin() is None


def test_folded_batch_norms_get_real_statistics_and_compute_the_same():
    from deeplab_tf.models.batch_norm import folded_batch_norms, unfold_batch_norms

    overrides = {"model.input_size": "65,65", "model.aspp.dropout": 0.0}  # no dropout: training mode is deterministic
    model = build_deeplab(override(get_experiment("deeplabv3_mnv2_dm05_pascal"), overrides).model)
    rng = np.random.RandomState(4)
    for layer in model.layers:  # what importing a .tflite makes: y = x + beta
        if type(layer).__name__ == "BatchNormalization":
            ones = np.ones(layer.beta.shape, np.float32)
            layer.set_weights([ones, rng.normal(0, 0.1, ones.shape).astype(np.float32), 0 * ones, ones - layer.epsilon])
    folded = folded_batch_norms(model)
    assert len(folded) == sum(type(layer).__name__ == "BatchNormalization" for layer in model.layers) > 50
    images = rng.uniform(-1, 1, (4, 65, 65, 3)).astype(np.float32)
    before = model(images, training=False).numpy()
    unfold_batch_norms(model, folded, [images])
    assert folded_batch_norms(model) == []
    np.testing.assert_allclose(model(images, training=False).numpy(), before, rtol=1e-3, atol=1e-3)
    # in training mode this batch normalizes by its own statistics: those now in the layers
    np.testing.assert_allclose(model(images, training=True).numpy(), before, rtol=1e-2, atol=1e-2)


def test_deeplab_train_continues_an_imported_model_dir(dm05_values, records, tmp_path):
    from deeplab_tf.training.trainer import train

    prefix = write_tf1_checkpoint(tmp_path / "ckpt" / "model.ckpt", dm05_values)
    config = override(
        get_experiment("deeplabv3_mnv2_dm05_pascal"),
        {"model.input_size": "65,65", "data.crop_size": "65,65", "data.data_dir": str(records),
         "data.batch_size": 2, "data.eval_size": "none", "train.train_steps": 1, "train.eval_every": -1},
    )  # fmt: skip
    import_weights(prefix, config, str(tmp_path / "run"))
    result = train(config, str(tmp_path / "run"))  # the model alone in ckpt-0: starts at step 0
    assert (result["start_step"], result["step"]) == (0, 1)
    trained, _ = load_trained_model(config.model, find_checkpoint(str(tmp_path / "run")))
    kernel = trained.get_layer("block_9_expand").kernel.numpy()
    assert not np.array_equal(kernel, dm05_values["MobilenetV2/expanded_conv_9/expand/weights"])
    np.testing.assert_allclose(kernel, dm05_values["MobilenetV2/expanded_conv_9/expand/weights"], atol=0.05)


def _identity_batch_norms(model, rng):
    """What importing a .tflite makes of every batch norm: y = x + beta."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            ones = np.ones(layer.beta.shape, np.float32)
            layer.set_weights([ones, rng.normal(0, 0.1, ones.shape).astype(np.float32), 0 * ones, ones - layer.epsilon])


def test_qat_of_an_imported_tflite_starts_from_real_batch_norm_statistics(records, tmp_path):
    from deeplab_tf.models.batch_norm import folded_batch_norms
    from deeplab_tf.quantization.finetune import build_qat_model

    config = override(
        get_experiment("deeplabv3_mnv2_dm05_pascal"),
        {"model.input_size": "65,65", "data.crop_size": "65,65", "data.data_dir": str(records), "data.batch_size": 2,
         "quant.calibration_batches": 1},
    )  # fmt: skip
    model = build_deeplab(config.model)
    _identity_batch_norms(model, np.random.RandomState(5))
    assert folded_batch_norms(model)
    checkpoint = tf.train.Checkpoint(model=model).save(str(tmp_path / "float" / "ckpt"))
    qat = build_qat_model(config, checkpoint)
    inner = [getattr(layer, "layer", layer) for layer in qat.layers]
    norms = [layer for layer in inner if type(layer).__name__ == "BatchNormalization"]
    assert norms and not any(np.all(layer.moving_mean.numpy() == 0) for layer in norms)
