"""deeplab-import: released DeepLab weights into a model_dir that every other command reads.

    deeplab-import --source=PATH --experiment=NAME --model_dir=DIR [--config=key=value ...]

PATH is a TF1 checkpoint prefix (model.ckpt-30000), a model-zoo .tar.gz as downloaded (read in
memory, nothing extracted), or a float .tflite that keeps the original tensor names, e.g.

    deeplab-import --source=../shared/reference/deeplabv3_257_mv_gpu.tflite \\
        --experiment=deeplabv3_mnv2_dm05_pascal_257 --model_dir=runs/demo_257

Every source variable must be used exactly once and every weight of the model set; otherwise
nothing is written and the error lists what is unmatched on each side. The experiment must have
the source's architecture (the deeplabv3_mnv2_dm05_* / dm10_* experiments are the originals').
"""

from __future__ import annotations

from absl import flags

from deeplab_tf.cli.common import define_experiment_flags, experiment_from_flags, run_main

FLAGS = flags.FLAGS
define_experiment_flags()
flags.DEFINE_string("source", None, "TF1 checkpoint prefix, model-zoo .tar.gz or float .tflite.")
flags.DEFINE_string("model_dir", None, "A new (or empty) folder to write the imported model_dir into.")
flags.mark_flag_as_required("source")
flags.mark_flag_as_required("model_dir")


def main(argv):
    del argv
    from deeplab_tf.importing.importer import import_weights

    config = experiment_from_flags()
    try:
        record = import_weights(FLAGS.source, config, FLAGS.model_dir)
    except FileExistsError as error:
        raise ValueError(str(error)) from None
    print(
        f"imported {record['variables_used']} variables of {record['source']} ({record['kind']}) into "
        f"{FLAGS.model_dir} as {config.name}; {len(record['derived'])} values derived"
        + (" (batch norm folded in the source: identity batch norms)" if record["kind"] == "tflite" else "")
        + (
            f", {len(record['variables_ignored'])} non-weight variables left out (training state, shape constants)"
            if record["variables_ignored"]
            else ""
        )
    )


def run():
    run_main(main)


if __name__ == "__main__":
    run()
