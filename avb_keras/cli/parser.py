"""The options of `avb-keras train`, `export`, `evaluate` and `sample` (argparse).

Loads no TensorFlow: the choices below are plain names, checked against the modules
that implement them by tests/test_cli_start_up.py.
"""

from pathlib import Path

from avb_keras.cli.arguments import (Parser, Replaced, non_negative_int, number,
                                     positive_float, positive_int)
from avb_keras.cli.listing import architecture_names

#: --model: avb (Adversarial Variational Bayes), vae (baseline), aae (adversarial autoencoder).
MODELS = ("avb", "vae", "aae")
PRECISIONS = ("none", "mixed_bfloat16", "mixed_float16")
#: --jit-compile -> Keras's compile(jit_compile=...).
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}
#: --lr-schedule (`avb_keras.optimizers.SCHEDULES`).
SCHEDULES = ("constant", "cosine")
#: --adaptive-contrast: AVB's r(z|x) (`AVB(adaptive_contrast=...)`: False, True or "full").
CONTRASTS = ("none", "diagonal", "full")


def build_parser():
    """The parser of `avb-keras`: the commands train, export, evaluate, sample and presets."""
    parser = Parser(
        prog="avb-keras",
        description="Adversarial Variational Bayes in Keras: train and evaluate models.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train", help="train a model and report its test metrics",
        description="Train a model with model.fit on a tf.data pipeline; write TensorBoard "
                    "logs, checkpoints and the final model under --run-dir.")
    add_model_options(train)
    add_run_options(train)
    add_optimizer_options(train)
    add_speed_options(train)
    add_export_parser(commands)
    add_evaluate_parser(commands)
    add_sample_parser(commands)
    presets = commands.add_parser(
        "presets", help="list the architecture and pretrained presets",
        description="List every preset from_preset accepts by name: architectures (fresh "
                    "weights) and the pretrained models that ship with the package.")
    presets.add_argument("--markdown", action="store_true", help="print a Markdown table")
    return parser


def add_model_options(train):
    """What is trained on what: --model, --preset, --dataset, sizes and epochs."""
    train.add_argument("--model", choices=MODELS, default="avb",
                       help="avb (Adversarial Variational Bayes), vae (baseline) or aae "
                            "(adversarial autoencoder); default avb")
    train.add_argument("--preset", default=None,
                       help=f"network/optimizer preset: {', '.join(architecture_names())} "
                            "(default: four_frames or celeba_conv for those data "
                            "sets, else mnist_mlp)")
    train.add_argument("--dataset", default="mnist_small",
                       help="four_frames, mnist (full MNIST, see --data-path), mnist_small "
                            "(packaged subset) or folder (your PNG/JPEG images under "
                            "--data-path); default mnist_small")
    train.add_argument("--data-path", default=None,
                       help="path of mnist.npz for --dataset mnist (else $AVB_KERAS_MNIST or "
                            "the Keras cache); the image folder for --dataset folder")
    train.add_argument("--image-size", type=positive_int, default=None,
                       help="--dataset folder only: images are resized to SIZE x SIZE "
                            "(default: the preset's, 64 for celeba_conv)")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="passes over the training split (default: 20 on mnist_small, "
                            "else the preset's)")
    train.add_argument("--steps-per-epoch", type=positive_int, default=None,
                       help="cap the steps of each epoch (for quick runs)")
    train.add_argument("--batch-size", type=positive_int, default=None,
                       help="examples per step (default: the preset's)")
    train.add_argument("--latent-dim", type=positive_int, default=None,
                       help="size of z (default: the preset's)")
    train.add_argument("--adversary-width", type=positive_float, default=None, metavar="F",
                       help="the adversary's dense widths (hidden units and inner "
                            "dimension): the preset's listed widths times F, e.g. 0.5 (AVB, "
                            "AAE; default: the preset's factor, for mnist_mlp 0.25 with "
                            "--adaptive-contrast full and 1 otherwise)")
    train.add_argument("--adaptive-contrast", choices=CONTRASTS, default=None,
                       help="AVB only: none (contrast q with the prior), diagonal (r(z|x) = "
                            "N(mu(x), sigma(x)^2), the paper's) or full (a full covariance, "
                            "z~ = L(x)^-1 (z - mu(x))); default: the preset's (full for "
                            "mnist_mlp, diagonal for the others)")
    train.add_argument("--no-adaptive-contrast", action=Replaced,
                       replacement="--adaptive-contrast none")


def add_run_options(train):
    """Where and how the run goes: --run-dir, --clip-norm, --seed, --strategy, --log-every,
    --projector."""
    train.add_argument("--run-dir", type=Path, default=None,
                       help="where logs, checkpoints and the model go "
                            "(default: runs/<model>-<preset>-<time>); a run directory "
                            "with checkpoints is resumed from its last one")
    train.add_argument("--clip-norm", type=positive_float, default=None,
                       help="clip every gradient of every player to this norm (default: "
                            "no clipping); may be added when resuming a diverged run")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--strategy", choices=("default", "mirrored", "multi_worker"),
                       default="default",
                       help="tf.distribute strategy: default (one device), mirrored (every GPU "
                            "of this machine) or multi_worker (the machines named in "
                            "TF_CONFIG; only the chief writes --run-dir); --batch-size is the "
                            "global batch, split over the replicas (default: default)")
    train.add_argument("--log-every", type=positive_int, default=None,
                       help="TensorBoard scalars and histograms every this many steps, "
                            "rounded to a multiple of the steps per execution (said once "
                            "if rounded; default: about 50; images and epoch metrics after "
                            "each epoch)")
    train.add_argument("--projector", type=non_negative_int, default=0, metavar="N",
                       help="after each epoch, write the posterior means of the first N test "
                            "images with their labels and thumbnails to RUN_DIR/logs/projector "
                            "for TensorBoard's Embedding Projector (a flat --dataset folder "
                            "labels them all 0; default 0: off)")


def add_optimizer_options(train):
    """Rates, their schedule and the weight average (`avb_keras.optimizers`)."""
    train.add_argument("--learning-rate", type=positive_float, default=None,
                       help="Adam's rate for the primal player (encoder, decoder); default: "
                            "the preset's")
    train.add_argument("--adversary-learning-rate", type=positive_float, default=None,
                       help="Adam's rate for the adversary (AVB, AAE); default: the preset's")
    train.add_argument("--lr-schedule", choices=SCHEDULES, default=None,
                       help="constant, or cosine: every rate decays to 0 over the run's "
                            "steps after --warmup-steps of linear warm-up (default: the "
                            "preset's, constant)")
    train.add_argument("--warmup-steps", type=non_negative_int, default=None,
                       help="linear warm-up steps of the cosine schedule (default: the "
                            "preset's, 0)")
    train.add_argument("--offset-stability", type=offset_stability, default="auto",
                       help="the limit on the adversary's rate along T's offset (AVB, AAE): "
                            "the largest share of Adam's stability threshold its steps may "
                            "take there, in (0, 1]; none turns it off (default auto: 0.5)")
    train.add_argument("--ema", type=number(float, lambda v: 0 < v < 1, "a number in (0, 1)"),
                       default=None,
                       help="keep a moving average of the primal weights with this momentum "
                            "(e.g. 0.999); the averaged weights are validated, saved and "
                            "exported (default: the preset's, none)")


def offset_stability(text):
    """An argparse type: auto, none, or a share in (0, 1]."""
    if text in ("auto", "none"):
        return text
    return number(float, lambda v: 0 < v <= 1, "auto, none or a share in (0, 1]")(text)


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
    train.add_argument("--steps-per-execution", type=positive_int, default=None,
                       help="training steps per call into TensorFlow; lowered to divide "
                            "the steps per epoch (and --log-every, where that keeps at least "
                            "half of them), so that epochs and TensorBoard logs fall on whole "
                            "calls (default: the preset's, 10)")


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
    export.add_argument("--version", type=non_negative_int, default=None,
                        help="version folder to write (default: the next free one); an "
                             "existing version is never overwritten")
    export.add_argument("--encoder", action="store_true",
                        help="export the encoder (signature `encode`) instead of the decoder")


def add_evaluate_parser(commands):
    evaluate = commands.add_parser(
        "evaluate", help="a trained model's test metrics, KL bound and AIS log-likelihood",
        description="Evaluate a trained model on the test split its run was scored on "
                    "(from RUN_DIR/metrics.json): model.evaluate's metrics, the "
                    "adversary-free lower bound on the KL beside the model's KL and, with "
                    "--ais, the AIS log-likelihood; print them and write a JSON report.")
    _add_model_path(evaluate)
    evaluate.add_argument("--ais", action="store_true",
                          help="also estimate log p(x) by AIS on the first --num-examples "
                               "test images (slow: minutes on MNIST)")
    evaluate.add_argument("--num-examples", type=positive_int, default=256,
                          help="test images for the KL bound and AIS (default 256)")
    evaluate.add_argument("--ais-steps", type=positive_int, default=1000,
                          help="AIS temperatures (default 1000)")
    evaluate.add_argument("--ais-chains", type=positive_int, default=16,
                          help="AIS chains per image (default 16)")
    evaluate.add_argument("--out", type=Path, default=None, metavar="FILE.json",
                          help="the report (default: RUN_DIR/evaluation.json, "
                               "MODEL.evaluation.json beside a model file, or "
                               "./PRESET.evaluation.json for a preset; the command prints it)")
    evaluate.add_argument("--dataset", default=None,
                          help="the data set (default: the run's; required for a bare "
                               ".keras file)")
    evaluate.add_argument("--data-path", default=None, help="as for train (default: the run's)")
    evaluate.add_argument("--image-size", type=positive_int, default=None,
                          help="as for train (default: the run's)")
    evaluate.add_argument("--batch-size", type=positive_int, default=None,
                          help="examples per batch (default: the run's, else 128)")
    evaluate.add_argument("--seed", type=int, default=None,
                          help="seeds the test data and the model's draws (default: the "
                               "run's, else 0)")


def add_sample_parser(commands):
    sample = commands.add_parser(
        "sample", help="a PNG grid of a trained model's samples",
        description="Draw --num samples E[x|z], z ~ p(z), of a trained model and write them "
                    "as one near-square grid to a PNG file.")
    _add_model_path(sample)
    sample.add_argument("--num", type=positive_int, default=64,
                        help="samples in the grid (default 64)")
    sample.add_argument("--out", type=Path, default=None, metavar="GRID.png",
                        help="the PNG file to write (default: RUN_DIR/samples.png, "
                             "MODEL.samples.png beside a model file, or ./PRESET.samples.png "
                             "for a preset; the command prints it)")
    sample.add_argument("--seed", type=int, default=0,
                        help="the same seed draws the same samples (default 0)")


def _add_model_path(command):
    command.add_argument("model_path", metavar="RUN_DIR|MODEL|PRESET", type=Path,
                         help="a run folder of `avb-keras train`, a .keras model file, a "
                              "preset folder (save_to_preset) or a pretrained preset's name "
                              "(`avb-keras presets` lists them)")
