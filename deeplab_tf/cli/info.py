"""deeplab-info: what a model is before you train it.

    deeplab-info --experiment=deeplabv3_mnv2_pascal [--input_size=513,513] [--json]

Prints parameters, multiply-adds at the input size, feature levels and the
input/output contract.
"""

from __future__ import annotations

import json

from absl import flags

from deeplab_tf.cli.common import define_experiment_flags, experiment_from_flags, run_main

FLAGS = flags.FLAGS
define_experiment_flags()
flags.DEFINE_string("input_size", None, "H,W to build at instead of the experiment's input size.")
flags.DEFINE_bool("json", False, "Print JSON instead of text.")


def describe(config) -> dict:
    """Builds the model of ``config`` (once) and returns its description as a dict."""
    from deeplab_tf.models import build_deeplab_with_backbone, feature_strides, get_backbone_spec
    from deeplab_tf.models.profile import count_macs, count_params

    model_config = config.model
    model, backbone = build_deeplab_with_backbone(model_config)
    strides = feature_strides(backbone)
    height, width = model_config.input_size
    return {
        "experiment": config.name,
        "model": model.name,
        "parameters": count_params(model),
        "multiply_adds": count_macs(model),
        "backbone_multiply_adds": count_macs(backbone),
        "feature_levels": {
            name: {"stride": strides[name], "shape": list(tensor.shape[1:])}
            for name, tensor in backbone.output.items()
        },
        "input": {
            "name": model.input_names[0],
            "shape": [1, height, width, 3],
            "dtype": "float32",
            "preprocessing": get_backbone_spec(model_config.backbone.name).preprocessing.to_dict(),
        },
        "output": {
            "name": model.output_names[0],
            "shape": [1, height, width, model_config.num_classes],
            "dtype": "float32",
            "kind": "logits",
        },
    }


def format_text(info: dict) -> str:
    pre = info["input"]["preprocessing"]
    lines = [
        f"experiment      {info['experiment']}  ({info['model']})",
        f"parameters      {info['parameters']['total']:,} "
        f"({info['parameters']['trainable']:,} trainable)",
        f"multiply-adds   {info['multiply_adds'] / 1e9:.3f} B "
        f"(backbone {info['backbone_multiply_adds'] / 1e9:.3f} B)",
        "feature levels  " + ", ".join(
            f"{name}: stride {level['stride']}, {'x'.join(map(str, level['shape']))}"
            for name, level in info["feature_levels"].items()
        ),
        f"input           {info['input']['name']} {info['input']['dtype']} {info['input']['shape']}, "
        f"{pre['color_order']}, (x - {pre['mean']}) / {pre['std']}",
        f"output          {info['output']['name']} {info['output']['dtype']} {info['output']['shape']}, "
        f"{info['output']['kind']}",
    ]
    return "\n".join(lines)


def main(argv):
    del argv
    extra = {"model.input_size": FLAGS.input_size} if FLAGS.input_size else None
    info = describe(experiment_from_flags(extra))
    print(json.dumps(info, indent=2) if FLAGS.json else format_text(info))


def run():
    run_main(main)


if __name__ == "__main__":
    run()
