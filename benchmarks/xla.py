"""Training step time with and without XLA (`jit_compile`), on this machine.

    python benchmarks/xla.py [--presets four_frames mnist_mlp] [--rounds 7]
                             [--block-seconds 0.4] [--precisions none]
                             [--out benchmarks/results/xla_cpu.json]

For VAE, AVB (without Adaptive Contrast), AVB+AC and AAE on each preset (batch =
the preset's), builds the model with the same seed once per arm: compiled with
`jit_compile=False` and `jit_compile=True`, under each dtype policy of
--precisions (none = float32, mixed_bfloat16, mixed_float16). It traces and
warms every arm up, then times blocks of K steps (K chosen so that a block of
the float32 arm without XLA takes about --block-seconds), each round running
every arm once, in alternating order, for --rounds rounds, so that load on a
shared machine hits all arms alike. Reports the median ms/step of each arm with
its range over the rounds, the speed-up off/on (XLA) as the median of the
per-round ratios, and for a mixed policy its speed-up over float32 (XLA off).

A step is Keras's own train function (what `fit` runs per batch) on one batch of
random binary images held in memory, so the input pipeline is not timed; the
first call (tracing and XLA compilation) is timed separately as `first_call_s`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hides Grappler's warnings about Elu nodes

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from timing import machine

from avb_keras import AAE, AVB, VAE, presets
from avb_keras.atomic import write_text

MODELS = {
    "VAE": lambda preset: VAE.from_preset(preset, seed=0),
    "AVB": lambda preset: AVB.from_preset(preset, seed=0, adaptive_contrast=False),
    "AVB+AC": lambda preset: AVB.from_preset(preset, seed=0, adaptive_contrast="diagonal"),
    "AAE": lambda preset: AAE.from_preset(preset, seed=0),
}


class Arm:
    """One compiled model and an endless iterator over its in-memory batch."""

    def __init__(self, model_name, preset, precision, jit_compile, batch):
        keras.utils.set_random_seed(0)
        keras.mixed_precision.set_global_policy("float32" if precision == "none" else precision)
        try:
            self.model = MODELS[model_name](preset)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        self.model.compile(jit_compile=jit_compile)
        self.model.make_train_function()
        self.iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
        start = time.perf_counter()
        self.run(1)
        self.first_call_s = time.perf_counter() - start

    def run(self, steps):
        """Seconds for `steps` steps (waits for the last result)."""
        start = time.perf_counter()
        for _ in range(steps):
            outputs = self.model.train_function(self.iterator)
        float(outputs["loss"])
        return time.perf_counter() - start


def measure(model_name, preset, precisions, rounds, block_seconds):
    """One row per precision: ms/step with XLA off and on, and their ratios."""
    p = presets.get(preset)
    batch = (np.random.default_rng(0).random((p.batch_size,) + p.data_shape) > 0.5)
    batch = tf.constant(batch.astype("float32"))
    keys = [(precision, jit) for precision in precisions for jit in (False, True)]
    arms = {key: Arm(model_name, preset, *key, batch) for key in keys}
    for arm in arms.values():
        arm.run(3)  # warm-up
    steps = max(3, round(block_seconds / (arms[keys[0]].run(3) / 3)))
    ms = {key: [] for key in keys}
    for r in range(rounds):
        for key in (keys if r % 2 == 0 else keys[::-1]):
            ms[key].append(arms[key].run(steps) / steps * 1e3)

    def ratios(a, b):
        return [x / y for x, y in zip(ms[a], ms[b])]

    rows = []
    for precision in precisions:
        xla = ratios((precision, False), (precision, True))
        row = {"model": model_name, "preset": preset, "precision": precision,
               "batch_size": p.batch_size, "steps_per_block": steps,
               "speedup": round(statistics.median(xla), 3),
               "speedup_range": [round(min(xla), 3), round(max(xla), 3)]}
        for jit, name in ((False, "off"), (True, "on")):
            row[f"ms_per_step_{name}"] = round(statistics.median(ms[precision, jit]), 3)
            row[f"ms_range_{name}"] = [round(min(ms[precision, jit]), 3),
                                       round(max(ms[precision, jit]), 3)]
            row[f"first_call_s_{name}"] = round(arms[precision, jit].first_call_s, 2)
        if precision != keys[0][0]:
            mixed = ratios(keys[0], (precision, False))
            row[f"speedup_vs_{keys[0][0]}"] = round(statistics.median(mixed), 3)
            row[f"speedup_vs_{keys[0][0]}_range"] = [round(min(mixed), 3),
                                                    round(max(mixed), 3)]
        rows.append(row)
    return rows


def table(rows):
    lines = ["| preset | model | precision | batch | ms/step XLA off (range) | "
             "ms/step XLA on (range) | speed-up off/on (range) | first call off / on (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['model']} | {r['precision']} | {r['batch_size']} | "
            f"{r['ms_per_step_off']:.2f} ({r['ms_range_off'][0]:.2f}-{r['ms_range_off'][1]:.2f}) | "
            f"{r['ms_per_step_on']:.2f} ({r['ms_range_on'][0]:.2f}-{r['ms_range_on'][1]:.2f}) | "
            f"{r['speedup']:.2f}x ({r['speedup_range'][0]:.2f}-{r['speedup_range'][1]:.2f}) | "
            f"{r['first_call_s_off']:.1f} / {r['first_call_s_on']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["four_frames", "mnist_mlp"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--precisions", nargs="+", default=["none"],
                        choices=["none", "mixed_bfloat16", "mixed_float16"],
                        help="dtype policies to time, the first the reference")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block-seconds", type=float, default=0.4)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/xla_cpu.json"))
    args = parser.parse_args(argv)

    command = "python benchmarks/xla.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Command: {command.strip()}")
    start = time.time()
    rows = []
    for preset in args.presets:
        for model_name in args.models:
            new = measure(model_name, preset, args.precisions, args.rounds, args.block_seconds)
            rows += new
            for row in new:
                extra = "".join(f"; {k} {v}" for k, v in row.items() if k.startswith("speedup_vs"))
                print(table([row]).splitlines()[-1] + extra, flush=True)
    devices = [d.device_type for d in tf.config.list_physical_devices()]
    result = {
        "command": command.strip(), "rows": rows, "rounds": args.rounds,
        "machine": f"{machine()}, devices {devices}, "
                   f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "wall_seconds": round(time.time() - start, 1),
    }
    print(table(rows))
    print(f"{result['machine']}; load average {result['load_average_1min_at_end']}; "
          f"{result['wall_seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
