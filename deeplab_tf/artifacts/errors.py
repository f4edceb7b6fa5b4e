"""Errors that name what their caller set: a function's argument or a config key.

The library names a setting as its caller spells it: an argument (``data_dir``) or a dotted
config key (``train.warmup_steps``). A command-line user typed a flag instead (``--data_dir``,
``--config=train.warmup_steps``). So a message marks each setting it names in backquotes,
```data_dir`=DIR``; ``str(error)`` shows the name (``data_dir=DIR``) and a command-line tool
shows the flag (``flagged``, which ``cli.common.run_main`` calls).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_SETTING = re.compile(r"`([A-Za-z_][\w.]*)`")


class ArgumentError(Exception):
    """An error about a setting the caller chose; mixed into the built-in type it is.

    Args:
      template: the message, each setting it names in backquotes (```qat_from`={path}``).
    """

    def __init__(self, template: str):
        self.template = template
        super().__init__(_SETTING.sub(r"\1", template))

    def flagged(self, flag: Callable[[str], str]) -> str:
        """The message with each marked setting spelled as ``flag(name)`` returns."""
        return _SETTING.sub(lambda match: flag(match.group(1)), self.template)

    def __reduce__(self):  # pickled (by a worker process) with its template
        return type(self), (self.template,)


class ArgumentValueError(ArgumentError, ValueError):
    """A setting's value is wrong, or a setting is missing."""


class ArgumentFileNotFoundError(ArgumentError, FileNotFoundError):
    """A setting names a file or folder that is not there (or holds nothing usable)."""


class ArgumentRuntimeError(ArgumentError, RuntimeError):
    """A run failed in a way that a setting can fix."""
