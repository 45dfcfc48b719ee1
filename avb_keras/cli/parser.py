"""The options of `avb-keras train` and `avb-keras export` (argparse)."""

import argparse
from pathlib import Path

from avb_keras.cli.settings import JIT_COMPILE, MODEL_CLASSES, PRECISIONS


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with where to get help) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The parser of `avb-keras`: the commands train and export."""
    parser = _Parser(
        prog="avb-keras",
        description="Adversarial Variational Bayes in Keras: train and evaluate models.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train", help="train a model and report its test metrics",
        description="Train a model with model.fit on a tf.data pipeline; write TensorBoard "
                    "logs, checkpoints and the final model under --run-dir.")
    add_model_options(train)
    add_run_options(train)
    add_speed_options(train)
    add_export_parser(commands)
    return parser


def add_model_options(train):
    """What is trained on what: --model, --preset, --dataset, sizes and epochs."""
    train.add_argument("--model", choices=tuple(MODEL_CLASSES), default="avb",
                       help="avb (Adversarial Variational Bayes), vae (baseline) or aae "
                            "(adversarial autoencoder); default avb")
    train.add_argument("--preset", default=None,
                       help="network/optimizer preset: four_frames, mnist_mlp or mnist_conv "
                            "(default: four_frames for that data set, else mnist_mlp)")
    train.add_argument("--dataset", default="mnist_small",
                       help="four_frames, mnist (full MNIST, see --data-path) or mnist_small "
                            "(packaged subset); default mnist_small")
    train.add_argument("--data-path", default=None,
                       help="path of mnist.npz for --dataset mnist (else $AVB_KERAS_MNIST or "
                            "the Keras cache)")
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help="passes over the training split (default: 20 on mnist_small, "
                            "else the preset's)")
    train.add_argument("--steps-per-epoch", type=_positive_int, default=None,
                       help="cap the steps of each epoch (for quick runs)")
    train.add_argument("--batch-size", type=_positive_int, default=None,
                       help="examples per step (default: the preset's)")
    train.add_argument("--latent-dim", type=_positive_int, default=None,
                       help="size of z (default: the preset's)")
    train.add_argument("--no-adaptive-contrast", action="store_true",
                       help="AVB only: contrast q with the prior instead of N(mu(x), sigma(x))")


def add_run_options(train):
    """Where and how the run goes: --run-dir, --clip-norm, --seed, --strategy, --log-every."""
    train.add_argument("--run-dir", type=Path, default=None,
                       help="where logs, checkpoints and the model go "
                            "(default: runs/<model>-<preset>-<time>); a run directory "
                            "with checkpoints is resumed from its last one")
    train.add_argument("--clip-norm", type=_positive_float, default=None,
                       help="clip every gradient of every player to this norm (default: "
                            "no clipping); may be added when resuming a diverged run")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--strategy", choices=("default", "mirrored", "multi_worker"),
                       default="default",
                       help="tf.distribute strategy: default (one device), mirrored (every GPU "
                            "of this machine) or multi_worker (the machines named in "
                            "TF_CONFIG; only the chief writes --run-dir); --batch-size is the "
                            "global batch, split over the replicas (default: default)")
    train.add_argument("--log-every", type=_positive_int, default=None,
                       help="TensorBoard scalars and histograms every this many steps "
                            "(default: about 50, a multiple of the steps per execution; "
                            "images and epoch metrics after each epoch)")


def add_speed_options(train):
    """--mixed-precision, --jit-compile, --steps-per-execution: how one device computes."""
    train.add_argument("--mixed-precision", choices=PRECISIONS, default="none",
                       help="dtype policy: none (float32), mixed_bfloat16 (for CPUs and TPUs) "
                            "or mixed_float16 (for GPUs; loss-scaled); networks compute in 16 "
                            "bits, variables and densities stay float32 (default none)")
    train.add_argument("--jit-compile", choices=tuple(JIT_COMPILE), default="auto",
                       help="XLA for the training step: auto (Keras's choice: on with a GPU, "
                            "off on a CPU-only machine, where it is slower; see "
                            "docs/PERFORMANCE.md), on or off (default auto)")
    train.add_argument("--steps-per-execution", type=_positive_int, default=None,
                       help="training steps per call into TensorFlow; lowered to divide the "
                            "steps per epoch and --log-every, so that epochs and TensorBoard "
                            "logs fall on the same steps (default: the preset's, 10)")


def add_export_parser(commands):
    export = commands.add_parser(
        "export", help="export a trained model as a SavedModel for TensorFlow Serving",
        description="Write the decoder (or, with --encoder, the encoder) of a trained model "
                    "as BASE_DIR/<version>/ in TensorFlow Serving's layout, with "
                    "MODEL_CARD.md and model_card.json beside the versions.")
    export.add_argument("model_path", metavar="RUN_DIR_OR_MODEL", type=Path,
                        help="a run folder of `avb-keras train` (its metrics.json goes into "
                             "the card) or a .keras model file")
    export.add_argument("--out", required=True, type=Path, metavar="BASE_DIR",
                        help="the TF Serving base folder, e.g. saved_models/NAME/decoder")
    export.add_argument("--version", type=_non_negative_int, default=None,
                        help="version folder to write (default: the next free one); an "
                             "existing version is never overwritten")
    export.add_argument("--encoder", action="store_true",
                        help="export the encoder (signature `encode`) instead of the decoder")


def _number(convert, accept, expected):
    """An argparse type: `convert(text)`, kept only when `accept(value)`."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value
    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "a non-negative integer")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number")
