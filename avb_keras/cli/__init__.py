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

A user's mistake (a bad value, a missing or damaged file) is one line on stderr
and exit status 2; a diverged run is one line and exit status 3.
"""

import sys

from avb_keras.callbacks.divergence import TrainingDiverged
from avb_keras.cli.evaluating import evaluate
from avb_keras.cli.exporting import export
from avb_keras.cli.listing import presets
from avb_keras.cli.parser import build_parser
from avb_keras.cli.sampling import sample
from avb_keras.cli.training import run_training, train

__all__ = ["build_parser", "main", "run_training"]


def main(argv=None):
    """Runs `avb-keras ARGV`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return {"train": train, "export": export, "evaluate": evaluate,
                "sample": sample, "presets": presets}[args.command](args)
    except (ValueError, TypeError, OSError) as error:
        # A user mistake (or an unreadable/unwritable path): one clear line, no traceback.
        print(f"avb-keras: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"avb-keras: error: {error}", file=sys.stderr)
        return 3


def _one_line(error):
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename!r}"
    return " ".join(str(error).split())
