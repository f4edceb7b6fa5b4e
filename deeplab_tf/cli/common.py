"""Flags shared by the command-line tools: the experiment and its overrides."""

from __future__ import annotations

from absl import flags

from deeplab_tf.configs import ExperimentConfig, get_experiment, list_experiments, override

FLAGS = flags.FLAGS


def define_experiment_flags(required: bool = True, default: str | None = None) -> None:
    """--experiment, --smoke and repeated --config=dotted.key=value overrides.

    Defined once per process: a second command module imported into the same
    process (as in tests) shares the first one's definitions.
    """
    if "experiment" in FLAGS:
        return
    flags.DEFINE_string(
        "experiment", default, f"Registered experiment; one of: {', '.join(list_experiments())}."
    )
    flags.DEFINE_bool("smoke", False, "Use the experiment's tiny smoke variant.")
    flags.DEFINE_multi_string(
        "config",
        [],
        "Override a config field, e.g. --config=model.backbone.output_stride=8 "
        "--config=train.learning_rate=0.01 (repeatable).",
    )
    if required:
        flags.mark_flag_as_required("experiment")


def experiment_from_flags(extra: dict | None = None) -> ExperimentConfig:
    """The experiment named by the flags, with --config and ``extra`` overrides applied.

    Raises:
      ValueError: unknown experiment, malformed --config, or bad override.
    """
    config = get_experiment(FLAGS.experiment, smoke=FLAGS.smoke)
    overrides = {}
    for item in FLAGS.config:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--config takes key=value, got {item!r}")
        overrides[key.strip()] = value.strip()
    overrides.update(extra or {})
    return override(config, overrides)


def parse_size(text: str, flag: str) -> tuple[int, int]:
    """"H,W" (or "HxW") -> (H, W); ValueError naming ``--flag`` otherwise."""
    import re

    parts = [p for p in re.split(r"[,x]", text) if p.strip()]
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--{flag} takes H,W (two positive integers), got {text!r}")
    return int(parts[0]), int(parts[1])


def adopt_help(command_module: str) -> None:
    """Makes --help / --helpshort show ``command_module``'s docstring and flags.

    absl lists the key flags of the module named ``sys.argv[0]`` and prints
    ``__main__``'s docstring; under a console script (bin/deeplab-eval) that is
    the script, which defines neither. The command's flags (and the shared ones
    of this module) become key flags of ``sys.argv[0]``.
    """
    import sys

    for module in (command_module, __name__):
        for flag in FLAGS.get_flags_for_module(module):
            FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    main_module = sys.modules.get("__main__")
    if main_module is not None and not main_module.__doc__:
        main_module.__doc__ = sys.modules[command_module].__doc__


def run_main(main) -> None:
    """absl.app.run that turns expected failures (bad input, missing files, NaN loss) into one line and exit code 1.

    --help lists the flags of the module defining ``main`` (``adopt_help``).
    """
    from absl import app

    adopt_help(main.__module__)

    def wrapped(argv):
        try:
            return main(argv)
        except (ValueError, FileNotFoundError, RuntimeError, FloatingPointError) as error:
            raise app.UsageError(str(error)) from None

    app.run(wrapped)
