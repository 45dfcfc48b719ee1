"""TensorFlow's native start-up lines, for the `avb-keras` command: shown per TF_CPP_MIN_LOG_LEVEL.

While it loads, TensorFlow 2.21 writes lines such as

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796115703.458124   20487 port.cc:153] oneDNN custom operations are on. ...

straight to file descriptor 2, whatever TF_CPP_MIN_LOG_LEVEL says (it applies
the level only to what it logs later). A mistake on the command line should be
one line, so for the command (`avb-keras ...` or `python -m avb_keras ...`)
`quiet_start_up` holds file descriptor 2 while the package loads TensorFlow and
writes back what the level lets through:

    level = TF_CPP_MIN_LOG_LEVEL if the user set it, else 3 (set for the whole run)
    a native line of severity I, W, E, F (0, 1, 2, 3) is kept when severity >= level;
    the absl preamble counts as a warning; a line after a native one continues it;
    anything before the first native line (Python's own output) is kept.

A program that imports avb_keras is left alone. This module loads no TensorFlow.
"""

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
#: The command's level when the user set none: errors hidden too, as TensorFlow's 3.
DEFAULT_LEVEL = "3"
COMMAND = "avb-keras"
MODULE = "avb_keras"
PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
#: An absl/glog line: severity letter, MMDD, a time, thread, file:line].
NATIVE_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
#: Python's options that take the next argument as their value.
OPTIONS_WITH_VALUES = ("-X", "-W", "--check-hash-based-pycs")


@contextlib.contextmanager
def quiet_start_up(command_line=None):
    """Holds file descriptor 2 during the block; then writes back what `shown` keeps.

    Args:
      command_line: whether this process is the command; None asks
        `is_command_line`. If not, the block runs untouched.
    """
    if not (is_command_line() if command_line is None else command_line):
        yield
        return
    level = _level(os.environ.setdefault(VARIABLE, DEFAULT_LEVEL))
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:  # (also when loading failed: its output is what explains why)
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            sys.stderr.write(shown(capture.read().decode(errors="replace"), level))
            sys.stderr.flush()


def shown(text, level):
    """The lines of `text` kept at TF_CPP_MIN_LOG_LEVEL `level` (see the module docstring).

    A line that is neither native nor the preamble continues the message before
    it (TensorFlow's messages may span lines) and shares its fate; before the
    first native line, everything is kept.
    """
    kept, keep = [], True
    for line in text.splitlines(keepends=True):
        native = NATIVE_LINE.match(line)
        if native:
            keep = SEVERITY[native.group(1)] >= level
        elif line.rstrip("\n") == PREAMBLE:
            keep = SEVERITY["W"] >= level
        if keep:
            kept.append(line)
    return "".join(kept)


def is_command_line():
    """Whether this process is `avb-keras ...` or `python [options] -m avb_keras ...`."""
    if Path(sys.argv[0]).name == COMMAND:  # the console script
        return True
    arguments = iter(getattr(sys, "orig_argv", [])[1:])
    for argument in arguments:
        if argument == "-m":
            return next(arguments, None) == MODULE
        if argument in OPTIONS_WITH_VALUES:  # e.g. -X importtime
            next(arguments, None)
        elif not argument.startswith("-"):  # a script, not a module
            return False
    return False


def _level(value):
    try:
        return int(value)
    except ValueError:  # TensorFlow reads a bad value as 0
        return 0
