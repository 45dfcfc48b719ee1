"""`avb-keras train`: settings, build or resume the model, callbacks, fit, summary.

A run directory holds `checkpoints/` (the newest epoch's folder, and `last.keras`
naming its model), `epochs.jsonl` (a journal of the epochs run), `logs/`
(TensorBoard), `model.keras` (the last checkpoint's model file itself, a hard link,
unless a weight average was swapped in at the end), `samples.png` (64 samples of
it) and `metrics.json` (the summary, test metrics included). Running
the same command again resumes from the newest checkpoint, reading exactly the
batches the uninterrupted run would have read.
"""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
from avb_keras import atomic, callbacks, checkpoints, datasets, distribute, optimizers, saving
from avb_keras.cli.arguments import plural
from avb_keras.cli.common import SPLITS, kl_bound_summary, load_split
from avb_keras.cli.parser import JIT_COMPILE
from avb_keras.cli.sampling import write_samples
from avb_keras.cli.settings import CONTRAST_ARGUMENT, MODEL_CLASSES, check_resumable, resolve

#: The grid of 64 samples E[x|z], z ~ p(z), written beside the model (`avb-keras sample`).
SAMPLES = "samples.png"


def train(args):
    """`avb-keras train ARGS`: trains, then prints the test metrics; returns 0."""
    model, summary = run_training(args)
    print("Test metrics (nats per example; an adversary's kl and elbo are estimates):")
    for name, value in summary["test"].items():
        print(f"  {name:>20s}: {value:.4f}")
    if summary["chief"]:
        run_dir = summary["run_dir"]
        print(f"Model saved to {run_dir}/model.keras; 64 samples of it in "
              f"{run_dir}/{SAMPLES}; TensorBoard: tensorboard --logdir {run_dir}/logs")
    return 0


def run_training(args):
    """Trains as `avb-keras train ARGS` does; returns (model, summary).

    Under --strategy multi_worker every worker runs all of this (saving and
    evaluation involve them all), but only the chief writes --run-dir; the
    others write into a temporary directory that is deleted at the end.
    """
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
    settings = resolve(args, strategy)
    # A non-chief worker reads the run's checkpoints (to resume) but writes elsewhere.
    write_dir = settings.run_dir if scratch is None else scratch
    write_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    model, done, history = build_or_resume(args, settings, clean=scratch is None)
    # Workers that resumed from different checkpoints would wait on each other forever.
    distribute.check_workers_agree(strategy, [done, int(model.optimizer.iterations.numpy())],
                                   "the epoch and step to resume from (do all workers see "
                                   "the same --run-dir?)")
    if args.clip_norm is not None:
        model.clip_gradients(args.clip_norm)
    data = load_data(args, settings, skip=int(model.optimizer.iterations.numpy()))
    steps = training_callbacks(args, settings, history, write_dir, chief=scratch is None)
    _announce(model, args, settings, scratch)
    train_seconds = fit(model, data, steps, settings, done)
    summary = finish(model, data["test"], args, settings, done, train_seconds, write_dir)
    return model, {**summary, "run_dir": str(settings.run_dir), "chief": scratch is None}


def build_or_resume(args, settings, clean):
    """(model, epochs done, metrics history): the newest checkpoint's, else a new model."""
    resumed = checkpoints.latest(settings.run_dir / "checkpoints", clean=clean)
    if resumed is None:
        return new_model(args, settings), 0, []
    model, state = resumed
    check_resumable(model, state, settings, args)
    print(f"Resuming {settings.run_dir} after epoch {state['epoch']} "
          f"(step {state['iterations']}).")
    return model, state["epoch"], state["history"]


def new_model(args, settings):
    """The compiled --model of the run's preset, with --latent-dim, --seed,
    --adversary-width, the contrast and the run's steps per execution."""
    overrides = {"latent_dim": args.latent_dim, "seed": args.seed}
    if args.adversary_width is not None:
        overrides["adversary_width"] = args.adversary_width
    if settings.image_size is not None:  # networks built at the folder's image size
        overrides["data_shape"] = datasets.data_shape(args.dataset, settings.image_size)
    if args.model == "avb":
        overrides["adaptive_contrast"] = CONTRAST_ARGUMENT[settings.recorded["adaptive_contrast"]]
    model = MODEL_CLASSES[args.model].from_preset(settings.preset, **overrides)
    compile_model(model, settings, JIT_COMPILE[args.jit_compile])
    return model


def compile_model(model, settings, jit_compile):
    """`optimizers.player_adam` for each player at the run's rates, schedule and average,
    and the limit on the adversary's rate along T's offset."""
    chosen = settings.optimization
    rates = {"optimizer": chosen["learning_rate"],
             "adversary_optimizer": chosen["adversary_learning_rate"]}
    players = {name: optimizers.player_adam(rates[name]) for name in model.optimizer_names}
    total = settings.epochs * settings.steps_per_epoch
    limit = chosen["offset_stability"]
    adversarial = ({"offset_stability": None if limit == "none" else limit}
                   if "adversary_optimizer" in players else {})
    model.compile(**players, **adversarial, lr_schedule=chosen["lr_schedule"], ema=chosen["ema"],
                  warmup_steps=chosen["warmup_steps"],
                  decay_steps=max(1, total - chosen["warmup_steps"]), jit_compile=jit_compile,
                  steps_per_execution=settings.steps_per_execution)


def load_data(args, settings, skip):
    """{split: dataset}; train is one endless stream of batches, less the `skip` read already.

    A resumed run skips the batches already read, so that it sees exactly the
    data the uninterrupted run would have seen.
    """
    data = {split: load_split(args.dataset, split, settings.batch_size, args.data_path,
                              args.seed, settings.image_size)
            for split in SPLITS}
    data["train"] = data["train"].skip(skip)
    return data


def training_callbacks(args, settings, history, write_dir, chief):
    """Divergence guard, TensorBoard monitoring (the chief's) and per-epoch checkpoints.

    Every worker checks divergence (a collective read, and all must stop
    together) and saves checkpoints (TensorFlow's guidance), a non-chief into
    its scratch directory.
    """
    return [callbacks.DivergenceGuard(settings.run_dir / "checkpoints"),
            *(monitoring(args, settings) if chief else []),
            checkpoints.TrainingCheckpoint(write_dir / "checkpoints", settings.recorded,
                                           history, journal=write_dir / "epochs.jsonl")]


def monitoring(args, settings):
    """TensorBoard: Keras's writers use logs/train and logs/validation, ours logs/avb
    (and logs/projector with --projector).

    They read mirrored weights alone, so the other workers need not wait.
    """
    logs = settings.run_dir / "logs"
    monitor_data = datasets.load(args.dataset, "valid", batch_size=64, path=args.data_path,
                                 seed=args.seed, with_labels=True, shuffle=False,
                                 image_size=settings.image_size)
    return [keras.callbacks.TensorBoard(log_dir=str(logs)),
            *callbacks.monitoring_callbacks(
                logs / "avb", monitor_data, log_every=settings.log_every,
                hparams={"dataset": args.dataset, "batch_size": settings.batch_size,
                         "epochs": settings.epochs, "strategy": args.strategy}),
            callbacks.KLBoundCheck(monitor_data, seed=args.seed),
            *embedding_projector(args, settings, logs / "projector")]


def embedding_projector(args, settings, log_dir):
    """--projector N: the first N test images, as stored (grey levels, not binarized: the
    thumbnails show them), with their labels; no callback for N = 0."""
    if not args.projector:
        return []
    try:  # too many images for the split or for the sprite
        test = datasets.load(args.dataset, "test", batch_size=args.projector, binarize=None,
                             seed=args.seed + SPLITS.index("test"), with_labels=True,
                             path=args.data_path, num_examples=args.projector,
                             image_size=settings.image_size)
        images, labels = next(iter(test))
        return [callbacks.EmbeddingProjector(log_dir, images.numpy(), labels.numpy(),
                                             seed=args.seed)]
    except ValueError as error:
        raise ValueError(f"--projector {args.projector}: {error}") from error


def fit(model, data, steps, settings, done):
    """Trains from epoch `done` to `settings.epochs` with callbacks `steps`; returns seconds."""
    start = time.time()
    if done < settings.epochs:
        model.fit(data["train"], validation_data=data["valid"], initial_epoch=done,
                  epochs=settings.epochs, steps_per_epoch=settings.steps_per_epoch,
                  callbacks=steps)
    return time.time() - start


def finish(model, test_data, args, settings, done, train_seconds, write_dir):
    """Saves model.keras and a grid of its samples, evaluates on the test split, writes
    metrics.json; returns the summary."""
    save_final_model(model, write_dir, settings, trained=done < settings.epochs)
    write_samples(model, write_dir / SAMPLES, seed=args.seed)
    test = model.evaluate(test_data, return_dict=True, verbose=0)
    summary = {"model": args.model, "preset": settings.preset, "dataset": args.dataset,
               "data_path": args.data_path and str(Path(args.data_path).resolve()),
               "image_size": settings.image_size, "latent_dim": model.latent_dim, "epochs": settings.epochs,
               "batch_size": settings.batch_size, "seed": args.seed,
               "strategy": args.strategy, "replicas": settings.replicas,
               "train_seconds": round(train_seconds, 1), "resumed_after_epoch": done or None,
               "mixed_precision": args.mixed_precision, "jit_compile": bool(model.jit_compile),
               "steps_per_execution": settings.steps_per_execution,
               "test": {k: float(v) for k, v in test.items()},
               "kl_lower_bound": kl_bound_summary(model, test_data, args.seed),
               "command": "avb-keras " + " ".join(sys.argv[1:])}
    atomic.write_text(write_dir / "metrics.json", json.dumps(summary, indent=2))
    return summary


def save_final_model(model, write_dir, settings, trained):
    """RUN_DIR/model.keras: a hard link to the last checkpoint's model where that is this
    model (this run trained to its last epoch, without the weight average that `fit`
    swaps in at its end), so the run directory holds it once; else saved anew."""
    last = checkpoints.model_file(write_dir / "checkpoints", settings.epochs)
    if trained and last is not None and not settings.optimization["ema"]:
        return checkpoints.link(last, write_dir / "model.keras")
    return saving.save_model(model, write_dir / "model.keras")


def _announce(model, args, settings, scratch):
    replicas = settings.replicas
    print(f"Training {type(model).__name__} ({settings.preset}, latent {model.latent_dim}) on "
          f"{args.dataset} for {plural(settings.epochs, 'epoch')} on "
          f"{plural(replicas, 'replica')} ({args.strategy}), "
          f"{plural(settings.steps_per_execution, 'step')} per execution; run directory "
          f"{settings.run_dir}"
          f"{'' if scratch is None else ' (written by the chief; this worker writes nothing)'}")
