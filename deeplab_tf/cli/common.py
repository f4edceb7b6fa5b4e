"""What the command-line tools share: quiet TensorFlow logging, the experiment flags and
their overrides, and one way to end on an error (the flag list only for a flag error)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Mapping

from absl import flags

from deeplab_tf.artifacts.errors import ArgumentError
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


class FlagError(ValueError):
    """A flag's value is malformed: the tool ends with its flag list, then this message."""


def parse_size(text: str, flag: str) -> tuple[int, int]:
    """"H,W" (or "HxW") -> (H, W); FlagError naming ``--flag`` otherwise."""
    parts = [p for p in re.split(r"[,x]", text) if p.strip()]
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise FlagError(f"--{flag} takes H,W (two positive integers), got {text!r}")
    return int(parts[0]), int(parts[1])


# Lines TensorFlow writes while it loads that tell a user nothing: absl's note that it logs before
# being initialized, and INFO/WARNING lines (oneDNN, CUDA probing, CPU features) with their
# continuation. Everything else written while TensorFlow loads is written through.
_START_UP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|To enable the following instructions:|E\d{4} [\d:.]+ +\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
)


def _asks_for_logs(argv: list[str]) -> bool:
    """--verbosity / -v in any absl form (--verbosity=1, --verbosity 1, -v=1, -v 1)."""
    return any(arg in ("--verbosity", "-v") or arg.startswith(("--verbosity=", "-v=")) for arg in argv[1:])


@contextlib.contextmanager
def _native_stderr_to(file):
    """Points file descriptor 2 (where C++ code writes) at ``file`` while the block runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow(argv: list[str] | None = None) -> bool:
    """Imports TensorFlow with its native start-up lines dropped and its logging at ERROR.

    The oneDNN notice, "Could not find cuda drivers", "failed call to cuInit", absl's
    pre-initialization warning, the converter's and saver's INFO lines and TensorFlow's
    deprecation warnings go; the tools' own output (stdout, progress lines) and every
    error (Python exceptions, native ERROR/FATAL lines other than cuInit's) stay. Does
    nothing when TensorFlow is already imported, when the user set TF_CPP_MIN_LOG_LEVEL,
    or when the command line asks for logs (--verbosity / -v). Returns whether it quieted.
    """
    import deeplab_tf

    argv = sys.argv if argv is None else argv
    if "tensorflow" in sys.modules or deeplab_tf.TF_LOG_LEVEL_GIVEN or _asks_for_logs(argv):
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # native INFO, WARNING and ERROR lines after start-up
    with tempfile.TemporaryFile("w+b") as captured:
        try:
            with _native_stderr_to(captured):
                import tensorflow as tf
        finally:
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not _START_UP_NOISE.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    tf.get_logger().setLevel(logging.ERROR)  # Python-side INFO lines and deprecation warnings
    global _QUIET
    _QUIET = True
    return True


_QUIET = False  # quiet_tensorflow quieted this process: run_main quiets absl's Python logging too


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


def flag_of(setting: str, aliases: Mapping[str, str] | None = None) -> str:
    """The flag a user types for a library setting (an argument or config key an
    ``ArgumentError`` names): ``--FLAG`` for an alias of the command (``aliases``: setting ->
    flag name), ``--config=KEY`` for a config key, ``--NAME`` for a flag of the same name; else the name."""
    if aliases and setting in aliases:
        return f"--{aliases[setting]}"
    if "." in setting:
        return f"--config={setting}"
    return f"--{setting}" if setting in FLAGS else setting


def run_main(main, aliases: Mapping[str, str] | None = None) -> None:
    """absl.app.run that ends an expected failure (bad input, missing files, NaN loss) with one
    line on stderr and exit code 1; only a flag error (absl's own, or FlagError) shows the flag list.

    The settings an ``ArgumentError`` names show as the flags that set them (``flag_of``, with
    ``aliases``: setting -> flag name where they differ). --help lists the flags of the module
    defining ``main`` (``adopt_help``).
    """
    from absl import app

    adopt_help(main.__module__)

    def wrapped(argv):
        if _QUIET:  # after app.run applied the (absent) --verbosity; TensorFlow logs through absl too
            logging.getLogger("absl").setLevel(logging.ERROR)
        try:
            return main(argv)
        except FlagError as error:
            raise app.UsageError(str(error)) from None
        except (ValueError, FileNotFoundError, RuntimeError, FloatingPointError) as error:
            if isinstance(error, ArgumentError):
                error = error.flagged(lambda setting: flag_of(setting, aliases))
            print(f"{_command_name(main.__module__)}: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None

    app.run(wrapped)


def _command_name(command_module: str) -> str:
    """The command's name, as its docstring starts ("deeplab-import: ...")."""
    doc = sys.modules[command_module].__doc__ or ""
    name = doc.split(":", 1)[0].strip()
    return name if name.startswith("deeplab-") and " " not in name else "error"
