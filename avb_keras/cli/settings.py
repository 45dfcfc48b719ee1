"""`avb-keras train`'s options resolved against the preset, the data and the strategy.

`resolve` fills the defaults (preset, epochs, batch size, steps, run directory),
refuses what cannot work (a preset for other data, a batch larger than the data
or not splitting over the replicas, a run directory that is a file) and sets
the dtype policy. A resumed run must match the settings it was started with
(`check_resumable`).
"""

import dataclasses
import time
from pathlib import Path

import keras

from avb_keras import AAE, AVB, VAE, contrast, datasets, presets
from avb_keras.cli.arguments import plural
from avb_keras.cli.parser import JIT_COMPILE, MODELS

#: --dataset -> the preset used without --preset (mnist_mlp for the others).
DEFAULT_PRESETS = {"four_frames": "four_frames", "folder": "celeba_conv"}
#: --model -> the class it trains.
MODEL_CLASSES = dict(zip(MODELS, (AVB, VAE, AAE)))
#: --adaptive-contrast -> AVB's `adaptive_contrast` argument.
CONTRAST_ARGUMENT = {"none": False, "diagonal": True, "full": "full"}
#: `contrast.kind` of a preset's contrast -> its --adaptive-contrast name.
CONTRAST_NAME = {False: "none", "diagonal": "diagonal", "full": "full"}
#: The monitor's period in steps without --log-every (rounded to whole executions).
LOG_EVERY = 50
#: Settings a resumed run must share with the run it resumes.
RESUME_SETTINGS = ("model", "preset", "dataset", "image_size", "batch_size", "latent_dim",
                   "adaptive_contrast", "seed", "steps_per_epoch", "learning_rate",
                   "adversary_learning_rate", "lr_schedule", "warmup_steps", "ema",
                   "offset_stability", "adversary_width")


@dataclasses.dataclass(frozen=True)
class Settings:
    """A run's resolved settings; `recorded` goes into every checkpoint's state.json."""

    preset: str
    #: A folder's image height and width (--image-size or the preset's); None for other data.
    image_size: int
    epochs: int
    optimization: dict
    batch_size: int
    steps_per_epoch: int
    #: Keras's steps_per_execution: a divisor of steps_per_epoch and of log_every.
    steps_per_execution: int
    #: The monitor's period in steps: --log-every, or about LOG_EVERY.
    log_every: int
    run_dir: Path
    replicas: int
    recorded: dict


def resolve(args, strategy):
    """The `Settings` of `avb-keras train ARGS` under `strategy`; sets the dtype policy.

    Raises:
      ValueError: settings that cannot work together, named with the option to change.
    """
    preset_name = args.preset or DEFAULT_PRESETS.get(args.dataset, "mnist_mlp")
    preset = presets.get(preset_name)
    image_size = _image_size(args, preset)
    _check_preset_fits(preset_name, preset, args.dataset, image_size)
    if args.adaptive_contrast is not None and args.model != "avb":
        raise ValueError(f"--adaptive-contrast {args.adaptive_contrast} applies to --model avb "
                         f"only (--model {args.model} has no contrast).")
    for given, flag in ((args.offset_stability != "auto", "--offset-stability"),
                        (args.adversary_width is not None, "--adversary-width")):
        if given and args.model == "vae":
            raise ValueError(f"{flag} applies to --model avb and aae only (the VAE has no "
                             "adversary).")
    batch_size = args.batch_size or preset.batch_size
    num_train = datasets.size(args.dataset, "train", path=args.data_path, seed=args.seed)
    replicas = strategy.num_replicas_in_sync
    _check_batch_size(batch_size, num_train, args, replicas)
    run_dir = _run_dir(args, preset_name)
    steps_per_epoch = args.steps_per_epoch or -(-num_train // batch_size)
    # The strategy is recorded but a resumed run may use another: the batch is global.
    optimization = _optimization(args, preset)
    recorded = {"model": args.model, "preset": preset_name, "dataset": args.dataset,
                "image_size": image_size, "batch_size": batch_size,
                "latent_dim": args.latent_dim,
                "adaptive_contrast": contrast_name(args, preset) if args.model == "avb" else None,
                "adversary_width": args.adversary_width, "seed": args.seed,
                "steps_per_epoch": steps_per_epoch, "strategy": args.strategy,
                "replicas": replicas, **optimization, **apply_speed_options(args)}
    epochs = args.epochs or (20 if args.dataset == "mnist_small" else preset.epochs)
    per_call, log_every = calls_and_log_period(args, preset, steps_per_epoch, replicas)
    return Settings(preset=preset_name, image_size=image_size, epochs=epochs,
                    optimization=optimization, batch_size=batch_size,
                    steps_per_epoch=steps_per_epoch, steps_per_execution=per_call,
                    log_every=log_every, run_dir=run_dir, replicas=replicas, recorded=recorded)


def calls_and_log_period(args, preset, steps_per_epoch, replicas=1):
    """(steps per execution, the monitor's period): both whole divisions of the epoch.

    Keras calls the batch callbacks once per execution, so the steps per
    execution (--steps-per-execution, else the preset's) are lowered to divide
    the steps per epoch, and also --log-every where that costs at most half of
    them. Else the fast path is kept and the monitor's period is the multiple of
    them nearest --log-every (said once); without --log-every it is the multiple
    nearest LOG_EVERY. Under a strategy with several replicas it is one step a
    call: Keras's multi-step loop there fails on an unfed placeholder
    (tests/test_distribute.py's command-line run).
    """
    wanted = 1 if replicas > 1 else args.steps_per_execution or preset.steps_per_execution
    per_call = presets.steps_per_execution(wanted, steps_per_epoch)
    if args.log_every:
        exact = presets.steps_per_execution(wanted, steps_per_epoch, args.log_every)
        per_call = exact if 2 * exact >= per_call else per_call
    log_every = per_call * max(1, round((args.log_every or LOG_EVERY) / per_call))
    if args.log_every and log_every != args.log_every:
        print(f"--log-every {args.log_every}: logging every {plural(log_every, 'step')}, the "
              f"nearest multiple of the {plural(per_call, 'step')} run per call into "
              "TensorFlow (--steps-per-execution 1 logs at any step, more slowly).")
    return per_call, log_every


def _optimization(args, preset):
    """--learning-rate, --adversary-learning-rate, --lr-schedule, --warmup-steps and --ema,
    each the preset's where not given, and --offset-stability."""
    return {"learning_rate": args.learning_rate or preset.learning_rate,
            "adversary_learning_rate": (args.adversary_learning_rate
                                        or preset.adversary_learning_rate),
            "lr_schedule": args.lr_schedule or preset.lr_schedule,
            "warmup_steps": (preset.warmup_steps if args.warmup_steps is None
                             else args.warmup_steps),
            "ema": args.ema or preset.ema, "offset_stability": args.offset_stability}


def apply_speed_options(args):
    """Sets the global dtype policy for --mixed-precision; returns the settings to record."""
    keras.mixed_precision.set_global_policy(
        "float32" if args.mixed_precision == "none" else args.mixed_precision)
    return {"mixed_precision": args.mixed_precision, "jit_compile": args.jit_compile}


def check_resumable(model, state, settings, args):
    """Refuses to resume a run saved with other settings or another dtype policy.

    A resumed model keeps its saved dtype policy, so --mixed-precision must
    match it; --jit-compile on/off applies (auto keeps the run's), and so does
    this run's steps per execution.
    """
    saved = upgraded(state["settings"])
    changed = [f"--{k.replace('_', '-')} {saved.get(k)} -> {settings.recorded[k]}"
               for k in RESUME_SETTINGS if saved.get(k) != settings.recorded[k]]
    if changed:
        raise ValueError(f"{settings.run_dir} holds a run with other settings "
                         f"({'; '.join(changed)}); give its settings to resume it, or a new "
                         "--run-dir.")
    policy = model.dtype_policy.name
    if policy != ("float32" if args.mixed_precision == "none" else args.mixed_precision):
        raise ValueError(f"The run to resume was trained with --mixed-precision "
                         f"{'none' if policy == 'float32' else policy}; give that, or a new "
                         f"--run-dir.")
    if args.jit_compile != "auto":
        model.jit_compile = JIT_COMPILE[args.jit_compile]
    model.steps_per_execution = settings.steps_per_execution  # the same steps, run faster


def upgraded(saved):
    """Settings recorded before --adaptive-contrast took "none" or defaulted to the
    preset's, or before --offset-stability and --adversary-width, in today's form."""
    saved = dict(saved)
    saved.setdefault("offset_stability", "auto")
    saved.setdefault("adversary_width", None)
    if saved.pop("no_adaptive_contrast", False):
        saved["adaptive_contrast"] = "none"
    if saved.get("model") != "avb":  # recorded as "diagonal" before presets had a contrast
        saved["adaptive_contrast"] = None
    return saved


def contrast_name(args, preset):
    """--adaptive-contrast, else the preset's contrast, by name."""
    return args.adaptive_contrast or CONTRAST_NAME[contrast.kind(preset.adaptive_contrast)]


def _image_size(args, preset):
    """--image-size, else the preset's height, for a folder; None for other data."""
    if args.dataset != "folder":
        if args.image_size is not None:
            raise ValueError("--image-size applies to --dataset folder only.")
        return None
    return args.image_size or preset.data_shape[0]


def _check_preset_fits(preset_name, preset, dataset, image_size):
    """The preset's networks must take the data: its shape, or for a folder (whose
    size the networks are built at) its number of channels."""
    shape = datasets.data_shape(dataset, image_size)
    fits = (preset.data_shape[-1] == shape[-1] if dataset == "folder"
            else preset.data_shape == shape)
    if not fits:
        raise ValueError(
            f"Preset {preset_name!r} is built for data shaped {preset.data_shape}, but "
            f"{dataset!r} has {shape}.")


def _check_batch_size(batch_size, num_train, args, replicas):
    if batch_size > num_train:
        raise ValueError(f"--batch-size {batch_size} is larger than the {num_train} training "
                         f"examples of {args.dataset}; expected at most {num_train}.")
    if batch_size % replicas:
        raise ValueError(f"--batch-size {batch_size} (the global batch) does not split evenly "
                         f"over the {replicas} replicas of --strategy {args.strategy}; "
                         f"expected a multiple of {replicas}.")


def _run_dir(args, preset_name):
    run_dir = args.run_dir or (Path("runs") /
                               f"{args.model}-{preset_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--run-dir {str(run_dir)!r} is a file; expected a directory "
                         "(new, or one of an earlier run to resume).")
    return run_dir
