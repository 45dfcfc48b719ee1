"""The command line: `avb-keras train` (also `python -m avb_keras train`).

With no options it trains AVB with Adaptive Contrast on the MNIST subset that
ships with the package, on CPU, in a few minutes; writes TensorBoard logs,
per-epoch checkpoints and the final model under a run directory; and prints the
test metrics.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("avb", "vae")
PRECISIONS = ("none", "mixed_bfloat16", "mixed_float16")
#: --jit-compile -> Keras's compile(jit_compile=...).
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with where to get help) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="avb-keras",
        description="Adversarial Variational Bayes in Keras: train and evaluate models.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train", help="train a model and report its test metrics",
        description="Train a model with model.fit on a tf.data pipeline; write TensorBoard "
                    "logs, checkpoints and the final model under --run-dir.")
    train.add_argument("--model", choices=MODELS, default="avb",
                       help="avb (Adversarial Variational Bayes) or vae (baseline); default avb")
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
    train.add_argument("--log-every", type=_positive_int, default=50,
                       help="TensorBoard scalars and histograms every this many steps "
                            "(default 50; images and epoch metrics after each epoch)")
    add_speed_options(train)
    add_export_parser(commands)
    return parser


def add_speed_options(train):
    """--mixed-precision and --jit-compile: how one device computes a step."""
    train.add_argument("--mixed-precision", choices=PRECISIONS, default="none",
                       help="dtype policy: none (float32), mixed_bfloat16 (for CPUs and TPUs) "
                            "or mixed_float16 (for GPUs; loss-scaled); networks compute in 16 "
                            "bits, variables and densities stay float32 (default none)")
    train.add_argument("--jit-compile", choices=tuple(JIT_COMPILE), default="auto",
                       help="XLA for the training step: auto (Keras's choice: on with a GPU, "
                            "off on a CPU-only machine, where it is slower; see "
                            "docs/PERFORMANCE.md), on or off (default auto)")


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


def export(args):
    from avb_keras.export import model_card, savedmodel

    model, summary = savedmodel.load_trained(args.model_path)
    write = savedmodel.export_encoder if args.encoder else savedmodel.export_decoder
    card = model_card.card_from_run(summary)
    card["export_command"] = "avb-keras " + " ".join(sys.argv[1:])
    path = write(model, args.out, version=args.version, card=card)
    print(f"Exported the {'encoder' if args.encoder else 'decoder'} of "
          f"{type(model).__name__} (latent {model.latent_dim}) to {path}; "
          f"check it with: saved_model_cli show --dir {path} --all")
    return 0


def apply_speed_options(args):
    """Sets the global dtype policy for --mixed-precision; returns the settings to record."""
    import keras

    keras.mixed_precision.set_global_policy(
        "float32" if args.mixed_precision == "none" else args.mixed_precision)
    return {"mixed_precision": args.mixed_precision, "jit_compile": args.jit_compile}


def check_resumed_precision(model, args):
    """A resumed model keeps its saved dtype policy: --mixed-precision must match it;
    --jit-compile on/off applies (auto keeps the run's)."""
    saved = model.dtype_policy.name
    if saved != ("float32" if args.mixed_precision == "none" else args.mixed_precision):
        raise ValueError(f"The run to resume was trained with --mixed-precision "
                         f"{'none' if saved == 'float32' else saved}; give that, or a new "
                         f"--run-dir.")
    if args.jit_compile != "auto":
        model.jit_compile = JIT_COMPILE[args.jit_compile]


#: Settings a resumed run must share with the run it resumes.
RESUME_SETTINGS = ("model", "preset", "dataset", "batch_size", "latent_dim",
                   "no_adaptive_contrast", "seed", "steps_per_epoch")


def train(args):
    model, summary = run_training(args)
    print("Test metrics (nats per example; the AVB kl and elbo are estimates):")
    for name, value in summary["test"].items():
        print(f"  {name:>20s}: {value:.4f}")
    if summary["chief"]:
        print(f"Model saved to {summary['run_dir']}/model.keras; "
              f"TensorBoard: tensorboard --logdir {summary['run_dir']}/logs")
    return 0


def run_training(args):
    """Trains as `avb-keras train ARGS` does; returns (model, summary).

    Under --strategy multi_worker every worker runs all of this (saving and
    evaluation involve them all), but only the chief writes --run-dir; the
    others write into a temporary directory that is deleted at the end.
    """
    from avb_keras import distribute

    # First: MultiWorkerMirroredStrategy must exist before any other TF op.
    strategy = distribute.make_strategy(args.strategy)
    chief = distribute.is_chief(strategy)
    scratch = None if chief else Path(tempfile.mkdtemp(prefix="avb-keras-worker-"))
    try:
        with strategy.scope():
            return _train_in_scope(args, strategy, scratch)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train_in_scope(args, strategy, scratch):
    import keras

    from avb_keras import (AVB, VAE, atomic, callbacks, checkpoints, datasets, distribute,
                           presets, saving)

    preset_name = args.preset or ("four_frames" if args.dataset == "four_frames" else "mnist_mlp")
    preset = presets.get(preset_name)
    if datasets.data_shape(args.dataset) != preset.data_shape:
        raise ValueError(
            f"Preset {preset_name!r} is built for data shaped {preset.data_shape}, but "
            f"{args.dataset!r} has {datasets.data_shape(args.dataset)}.")
    if args.no_adaptive_contrast and args.model != "avb":
        raise ValueError("--no-adaptive-contrast applies to --model avb only.")
    epochs = args.epochs or (20 if args.dataset == "mnist_small" else preset.epochs)
    batch_size = args.batch_size or preset.batch_size
    num_train = datasets.size(args.dataset, "train", path=args.data_path, seed=args.seed)
    if batch_size > num_train:
        raise ValueError(f"--batch-size {batch_size} is larger than the {num_train} training "
                         f"examples of {args.dataset}; expected at most {num_train}.")
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch-size {batch_size} (the global batch) does not split evenly "
                         f"over the {replicas} replicas of --strategy {args.strategy}; "
                         f"expected a multiple of {replicas}.")
    steps_per_epoch = args.steps_per_epoch or -(-num_train // batch_size)
    run_dir = args.run_dir or Path("runs") / f"{args.model}-{preset_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--run-dir {str(run_dir)!r} is a file; expected a directory "
                         "(new, or one of an earlier run to resume).")
    # A non-chief worker reads the run's checkpoints (to resume) but writes elsewhere.
    write_dir = run_dir if scratch is None else scratch
    write_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = run_dir / "checkpoints"
    # The strategy is recorded but a resumed run may use another: the batch is global.
    settings = {"model": args.model, "preset": preset_name, "dataset": args.dataset,
                "batch_size": batch_size, "latent_dim": args.latent_dim,
                "no_adaptive_contrast": args.no_adaptive_contrast, "seed": args.seed,
                "steps_per_epoch": steps_per_epoch, "strategy": args.strategy,
                "replicas": replicas}
    settings.update(apply_speed_options(args))

    keras.utils.set_random_seed(args.seed)
    resumed = checkpoints.latest(checkpoint_dir, clean=scratch is None)
    if resumed is None:
        overrides = {"latent_dim": args.latent_dim, "seed": args.seed}
        if args.no_adaptive_contrast:
            overrides["adaptive_contrast"] = False
        model = {"avb": AVB, "vae": VAE}[args.model].from_preset(preset_name, **overrides)
        model.compile(jit_compile=JIT_COMPILE[args.jit_compile])
        done, history = 0, []
    else:
        model, state = resumed
        changed = [f"--{k.replace('_', '-')} {state['settings'].get(k)} -> {settings[k]}"
                   for k in RESUME_SETTINGS if state["settings"].get(k) != settings[k]]
        if changed:
            raise ValueError(f"{run_dir} holds a run with other settings ({'; '.join(changed)}); "
                             "give its settings to resume it, or a new --run-dir.")
        check_resumed_precision(model, args)
        done, history = state["epoch"], state["history"]
        print(f"Resuming {run_dir} after epoch {done} (step {state['iterations']}).")
    # Workers that resumed from different checkpoints would wait on each other forever.
    distribute.check_workers_agree(strategy, [done, int(model.optimizer.iterations.numpy())],
                                   "the epoch and step to resume from (do all workers see "
                                   "the same --run-dir?)")
    if args.clip_norm is not None:
        model.clip_gradients(args.clip_norm)
    # One endless stream of batches; a resumed run skips the batches already read,
    # so that it sees exactly the data the uninterrupted run would have seen.
    skip = int(model.optimizer.iterations.numpy())
    data = {split: datasets.load(args.dataset, split, batch_size=batch_size, path=args.data_path,
                                 seed=args.seed + i, repeat=split == "train")
            for i, split in enumerate(("train", "valid", "test"))}
    data["train"] = data["train"].skip(skip)
    # TensorBoard (the chief only): Keras's writers use logs/train and logs/validation,
    # ours logs/avb. They read mirrored weights alone, so the other workers need not wait.
    monitoring = []
    if scratch is None:
        monitor_data = datasets.load(args.dataset, "valid", batch_size=64, path=args.data_path,
                                     seed=args.seed, with_labels=True, shuffle=False)
        monitoring = [keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")),
                      *callbacks.monitoring_callbacks(
                          run_dir / "logs" / "avb", monitor_data, log_every=args.log_every,
                          hparams={"dataset": args.dataset, "batch_size": batch_size,
                                   "epochs": epochs, "strategy": args.strategy})]

    print(f"Training {type(model).__name__} ({preset_name}, latent {model.latent_dim}) on "
          f"{args.dataset} for {epochs} epochs on {replicas} replica"
          f"{'s' if replicas > 1 else ''} ({args.strategy}); run directory {run_dir}"
          f"{'' if scratch is None else ' (written by the chief; this worker writes nothing)'}")
    start = time.time()
    if done < epochs:
        # Every worker checks divergence (a collective read, and all must stop together)
        # and saves checkpoints (TensorFlow's guidance), a non-chief into its scratch dir.
        model.fit(data["train"], validation_data=data["valid"], initial_epoch=done,
                  epochs=epochs, steps_per_epoch=steps_per_epoch,
                  callbacks=[callbacks.DivergenceGuard(checkpoint_dir),
                             *monitoring,
                             checkpoints.TrainingCheckpoint(
                                 write_dir / "checkpoints", settings, history,
                                 journal=write_dir / "epochs.jsonl")])
    train_seconds = time.time() - start
    saving.save_model(model, write_dir / "model.keras")
    test = model.evaluate(data["test"], return_dict=True, verbose=0)

    summary = {"model": args.model, "preset": preset_name, "dataset": args.dataset,
               "latent_dim": model.latent_dim, "epochs": epochs, "batch_size": batch_size,
               "seed": args.seed, "strategy": args.strategy, "replicas": replicas,
               "train_seconds": round(train_seconds, 1),
               "resumed_after_epoch": done or None,
               "mixed_precision": args.mixed_precision, "jit_compile": bool(model.jit_compile),
               "test": {k: float(v) for k, v in test.items()},
               "command": "avb-keras " + " ".join(sys.argv[1:])}
    atomic.write_text(write_dir / "metrics.json", json.dumps(summary, indent=2))
    return model, {**summary, "run_dir": str(run_dir), "chief": scratch is None}


def main(argv=None):
    args = build_parser().parse_args(argv)
    from avb_keras.callbacks.divergence import TrainingDiverged

    try:
        return {"train": train, "export": export}[args.command](args)
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


if __name__ == "__main__":
    sys.exit(main())
