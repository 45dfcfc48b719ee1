"""Training throughput, FLOP rate and peak memory of VAE, AVB and AVB+AC.

    python benchmarks/throughput.py [--presets mnist_mlp mnist_conv] [--batches 128 512]
                                    [--seconds 20] [--out benchmarks/results/throughput_cpu]

For each preset, model and batch size, a fresh Python process builds the model
(seed 0, the preset's optimizers, Keras's default jit_compile) and trains it with
`model.fit` on the packaged MNIST subset through the package's own input
pipeline (shuffle, dynamic binarization, prefetch). After a traced warm-up fit,
one timed fit of about `--seconds` records the end of every step; the
throughput is batch / median step time. The process reports its peak resident
memory (VmHWM, which includes TensorFlow itself).

FLOPs per example of a step are stated two ways (see `avb_keras.flops`): from
the layer sizes (3x rule) and as the matrix work the traced step executes. The
achieved FLOP rate (executed FLOPs x examples/s) is compared with the dense
matmul rate of this machine, measured in the same run (float32 4096 x 4096
tf.matmul, median, before and after the models), and the AVB+AC step's rate
with the VAE step's. The input pipeline alone is timed too, to show it does not
starve the model.

Writes OUT.json and OUT.md and prints the table.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from avb_keras import AVB, VAE, datasets, flops

MODELS = ("VAE", "AVB", "AVB+AC")


def matmul_rate(n=4096, repeats=7):
    """Median float32 FLOP/s of an n x n x n tf.matmul (2 n^3 FLOPs)."""
    a = tf.random.normal([n, n], seed=0)
    b = tf.random.normal([n, n], seed=1)
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times)


def pipeline_rate(batch_size, batches=200):
    """Examples/s of the training input pipeline alone (no model)."""
    data = iter(datasets.load("mnist_small", "train", batch_size=batch_size, seed=0,
                              repeat=True))
    for _ in range(10):
        next(data)
    start = time.perf_counter()
    for _ in range(batches):
        next(data)
    return batches * batch_size / (time.perf_counter() - start)


def build(preset, name):
    if name == "VAE":
        return VAE.from_preset(preset, seed=0)
    return AVB.from_preset(preset, seed=0, adaptive_contrast=name == "AVB+AC")


class StepClock(keras.callbacks.Callback):
    """The wall-clock end of every training step."""

    def on_train_begin(self, logs=None):
        self.ends = [time.perf_counter()]

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def measure_one(preset, name, batch_size, seconds, jit_compile):
    """One configuration, in this process: a dict of its figures."""
    keras.utils.set_random_seed(0)
    model = build(preset, name)
    model.compile(jit_compile=jit_compile)
    analytic = flops.train_step_flops(model)
    executed = flops.graph_flops(model, batch_size)
    data = datasets.load("mnist_small", "train", batch_size=batch_size, seed=0, repeat=True)
    clock = StepClock()
    model.fit(data, epochs=1, steps_per_epoch=3, verbose=0, callbacks=[clock])  # traces
    warm = statistics.median(b - a for a, b in zip(clock.ends[1:], clock.ends[2:]))
    steps = int(min(200, max(8, seconds / warm)))
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    wall = time.perf_counter() - start
    step_times = [b - a for a, b in zip(clock.ends, clock.ends[1:])][1:]  # first: fit set-up
    step = statistics.median(step_times)
    return {
        "preset": preset, "model": name, "batch_size": batch_size, "steps": steps,
        "jit_compile": str(model.jit_compile),
        "ms_per_step": 1e3 * step,
        "ms_per_step_p10_p90": [1e3 * q for q in _deciles(step_times)],
        "examples_per_second": batch_size / step,
        "examples_per_second_whole_fit": steps * batch_size / wall,
        "flops_per_example_layer_sizes": analytic,
        "flops_per_example_executed": executed,
        "achieved_flops_per_second": executed * batch_size / step,
        "peak_rss_mib": peak_rss_mib(),
    }


def peak_rss_mib():
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the
    parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _deciles(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 10], ordered[(9 * len(ordered)) // 10]


def run_isolated(preset, name, batch_size, seconds, jit_compile):
    """measure_one in a fresh process, so that peak memory is this configuration's."""
    command = [sys.executable, __file__, "--one", preset, name, str(batch_size),
               "--seconds", str(seconds), "--jit-compile", jit_compile]
    out = subprocess.run(command, capture_output=True, text=True, check=False,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows, matmul):
    lines = [
        "| preset | model | batch | ms/step | examples/s | FLOPs/example (layer sizes) "
        "| FLOPs/example (executed) | GFLOP/s | of matmul rate | AVB+AC vs VAE | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    vae = {(r["preset"], r["batch_size"]): r for r in rows if r["model"] == "VAE"}
    for r in rows:
        base = vae.get((r["preset"], r["batch_size"]))
        versus = ""
        if r["model"] == "AVB+AC" and base:
            versus = (f"time {base['examples_per_second'] / r['examples_per_second']:.2f}x, "
                      f"FLOPs {r['flops_per_example_executed'] / base['flops_per_example_executed']:.2f}x, "
                      f"rate {r['achieved_flops_per_second'] / base['achieved_flops_per_second']:.0%}")
        lines.append(
            f"| {r['preset']} | {r['model']} | {r['batch_size']} | {r['ms_per_step']:.1f} "
            f"| {r['examples_per_second']:.0f} | {r['flops_per_example_layer_sizes'] / 1e6:.2f} M "
            f"| {r['flops_per_example_executed'] / 1e6:.2f} M "
            f"| {r['achieved_flops_per_second'] / 1e9:.1f} "
            f"| {r['achieved_flops_per_second'] / matmul:.0%} | {versus} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["mnist_mlp", "mnist_conv"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batches", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="timed training per configuration (default 20)")
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/throughput_cpu"))
    parser.add_argument("--one", nargs=3, metavar=("PRESET", "MODEL", "BATCH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    if args.one:
        preset, name, batch = args.one
        print(json.dumps(measure_one(preset, name, int(batch), args.seconds, jit)))
        return 0

    rates = [matmul_rate()]
    pipeline = {b: pipeline_rate(b) for b in args.batches}
    rows = []
    for preset in args.presets:
        for batch in args.batches:
            for name in args.models:
                row = run_isolated(preset, name, batch, args.seconds, args.jit_compile)
                rows.append(row)
                print(f"{preset} {name} batch {batch}: {row['examples_per_second']:.0f} "
                      f"examples/s, {row['achieved_flops_per_second'] / 1e9:.1f} GFLOP/s, "
                      f"peak RSS {row['peak_rss_mib']:.0f} MiB", flush=True)
    rates.append(matmul_rate())
    matmul = statistics.median(rates)
    result = {
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}, "
                   f"GPUs: {len(tf.config.list_physical_devices('GPU'))}",
        "matmul_flops_per_second": matmul, "matmul_runs": rates,
        "pipeline_examples_per_second": pipeline, "rows": rows}
    text = table(rows, matmul)
    text += (f"\n\nDense matmul rate (float32 4096^3, median of the runs before and after): "
             f"{matmul / 1e9:.1f} GFLOP/s. Input pipeline alone: "
             + ", ".join(f"{r:.0f} examples/s at batch {b}" for b, r in pipeline.items()) + ".\n")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(f"Command: `{result['command']}`\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
