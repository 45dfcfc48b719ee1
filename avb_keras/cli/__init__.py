"""The command line: `avb-keras train`, `export`, `evaluate`, `sample` and `presets`
(also `python -m avb_keras`).

With no options `train` trains AVB with Adaptive Contrast on the MNIST subset
that ships with the package, on CPU, in a few minutes; writes TensorBoard logs,
per-epoch checkpoints and the final model under a run directory; and prints the
test metrics. One module a step:

- `parser`: the options (argparse).
- `settings`: the options resolved against the preset, the data and the strategy.
- `training`: build or resume the model, its callbacks, fit, save and summarize.
- `exporting`: a trained model to a TF Serving SavedModel with its model card.
- `evaluating`: a trained model's test metrics, KL bound and AIS log-likelihood.
- `sampling`: a PNG grid of a trained model's samples.
- `listing`: the table of presets.
- `parser` and `arguments`: the options; `common`: what training and evaluating share.

Parsing loads no TensorFlow: `--help`, `presets` and a usage mistake answer at once;
a command's module (and TensorFlow with it) is imported once its options are read.

A user's mistake (a bad value, a missing or damaged file) is one line on stderr
and exit status 2; a diverged run is one line and exit status 3.
"""

import importlib
import sys

from avb_keras.cli.parser import build_parser
from avb_keras.native_logs import quiet_start_up

__all__ = ["build_parser", "main", "run_training"]

#: command -> (module, function) that runs it.
COMMANDS = {"train": ("training", "train"), "export": ("exporting", "export"),
            "evaluate": ("evaluating", "evaluate"), "sample": ("sampling", "sample"),
            "presets": ("listing", "presets")}


def main(argv=None):
    """Runs `avb-keras ARGV`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return command(args.command)(args)
    except (ValueError, TypeError, OSError) as error:
        # A user mistake (or an unreadable/unwritable path): one clear line, no traceback.
        print(f"avb-keras: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:
        if not _diverged(error):
            raise
        print(f"avb-keras: error: {error}", file=sys.stderr)
        return 3


def command(name):
    """The function that runs command `name`, its module imported (TensorFlow's start-up
    lines held back as `native_logs` says)."""
    module, function = COMMANDS[name]
    with quiet_start_up():
        return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def run_training(args):
    """`avb_keras.cli.training.run_training` (imported on first use)."""
    from avb_keras.cli.training import run_training as run

    return run(args)


def _diverged(error):
    """Whether `error` is the divergence guard's `TrainingDiverged` (loaded only by train)."""
    divergence = sys.modules.get("avb_keras.callbacks.divergence")
    return divergence is not None and isinstance(error, divergence.TrainingDiverged)


def _one_line(error):
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename!r}"
    return " ".join(str(error).split())
