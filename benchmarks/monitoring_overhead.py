"""What the TensorBoard monitoring costs a training run.

    python benchmarks/monitoring_overhead.py [--steps 200] [--repeats 3] [--out docs/monitoring_overhead.json]

Trains AVB+AC (mnist_mlp preset, batch 128) on mnist_small with
`avb_keras.callbacks.monitoring_callbacks` at the command line's defaults
(scalars and histograms every 50 steps on a 64-example monitoring batch, images
at each epoch's end; one epoch = `--steps` steps) and reports

- the share of the fit's wall time spent inside the callbacks' hooks (robust to
  other load on the machine, since both are measured in the same run), and
- the median wall time per step of fits alternately without and with the
  callbacks (the end-to-end figure; noisy on a shared machine).

Everything is traced once before timing; fit runs with verbose=2 in both arms
(a progress bar reads the logs every step, as the monitor does).
"""

import argparse
import collections
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf
from timing import machine

from avb_keras import AVB, callbacks, datasets, optimizers
from avb_keras.atomic import write_text

HOOKS = ("on_train_begin", "on_train_batch_end", "on_epoch_end", "on_train_end")


def timed_hooks(callback_list, spent):
    """Wraps each hook so that its wall time is added to spent[hook name]."""
    for callback in callback_list:
        for hook in HOOKS:
            method = getattr(callback, hook)

            def timed(*args, method=method, key=f"{type(callback).__name__}.{hook}", **kwargs):
                start = time.perf_counter()
                method(*args, **kwargs)
                spent[key] += time.perf_counter() - start

            setattr(callback, hook, timed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("docs/monitoring_overhead.json"))
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    train = datasets.load("mnist_small", "train", batch_size=128, seed=0, repeat=True)
    valid = datasets.load("mnist_small", "valid", batch_size=64, seed=1, with_labels=True)
    model = AVB.from_preset("mnist_mlp", seed=0, adaptive_contrast="diagonal")
    model.compile(**{name: optimizers.player_adam(rate) for name, rate in
                     {"optimizer": 5e-5, "adversary_optimizer": 1e-4}.items()})
    spent = collections.defaultdict(float)
    fit = dict(epochs=1, steps_per_epoch=args.steps, verbose=2)
    with tempfile.TemporaryDirectory() as log_dir:
        monitoring = callbacks.monitoring_callbacks(log_dir, valid, log_every=args.log_every)
        timed_hooks(monitoring, spent)
        model.fit(train, callbacks=monitoring, **fit)  # traces the step and the probe
        model.fit(train, **fit)
        times, shares = {"without": [], "with": []}, []
        for _ in range(args.repeats):
            for name, extra in (("without", []), ("with", monitoring)):
                spent.clear()
                start = time.perf_counter()
                model.fit(train, callbacks=extra, **fit)
                elapsed = time.perf_counter() - start
                times[name].append(elapsed / args.steps * 1e3)
                if extra:
                    shares.append(100 * sum(spent.values()) / elapsed)
                    hooks = {k: round(v * 1e3, 1) for k, v in spent.items() if v > 1e-4}
    without, with_ = (statistics.median(times[k]) for k in ("without", "with"))
    result = {
        "callback_share_percent": round(statistics.median(shares), 2),
        "callback_ms_per_fit_last": hooks,
        "ms_per_step_without": round(without, 2), "ms_per_step_with": round(with_, 2),
        "end_to_end_overhead_percent": round(100 * (with_ / without - 1), 1),
        "runs_ms_per_step": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "steps": args.steps, "repeats": args.repeats, "log_every": args.log_every,
        "load_average_1min": round(os.getloadavg()[0], 1),
        "machine": f"{machine()}, TensorFlow {tf.__version__}",
    }
    print(json.dumps(result, indent=2))
    write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
