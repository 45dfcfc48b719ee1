"""Training throughput, FLOP rate and peak memory of VAE, AVB and AVB+AC.

    python benchmarks/flop_rate.py [--presets mnist_mlp mnist_conv] [--batches 128 512]
                                   [--seconds 20] [--steps-per-execution 1]
                                   [--out benchmarks/results/flop_rate_cpu]

For each preset, model and batch size, a fresh Python process builds the model
(seed 0, the preset's optimizers, Keras's default jit_compile) and trains it with
`model.fit` on the packaged MNIST subset through the package's own input
pipeline (shuffle, dynamic binarization, prefetch), `--steps-per-execution`
steps per call of the train function. After a traced warm-up fit, one timed
fit of about `--seconds` records the end of every call; the throughput is
batch x steps per call / median call time. The process reports its peak
resident memory (VmHWM, which includes TensorFlow itself).

(Named `throughput.py` until issue 15, which made that name the comparison
with PyTorch; the results of issue 6 are in benchmarks/results/throughput_cpu.*.)

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
import statistics
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
import timing  # noqa: E402
from timing import deciles, fresh_process, machine, matmul_rate, peak_rss_mib, step_clock

from avb_keras import AVB, VAE, datasets, flops

MODELS = ("VAE", "AVB", "AVB+AC")


def pipeline_rate(batch_size, batches=200):
    """Examples/s of the training input pipeline alone (no model)."""
    data = iter(datasets.load("mnist_small", "train", batch_size=batch_size, seed=0,
                              repeat=True))
    return timing.pipeline_rate(data, batch_size, batches, warm_up=10)


def build(preset, name):
    if name == "VAE":
        return VAE.from_preset(preset, seed=0)
    return AVB.from_preset(preset, seed=0, adaptive_contrast=name == "AVB+AC")


def measure_one(preset, name, batch_size, seconds, jit_compile, steps_per_execution=1):
    """One configuration, in this process: a dict of its figures."""
    keras.utils.set_random_seed(0)
    model = build(preset, name)
    model.compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    analytic = flops.train_step_flops(model)
    executed = flops.graph_flops(model, batch_size)
    data = datasets.load("mnist_small", "train", batch_size=batch_size, seed=0, repeat=True)
    n = steps_per_execution
    clock = step_clock()
    model.fit(data, epochs=1, steps_per_epoch=3 * n, verbose=0, callbacks=[clock])  # traces
    warm = statistics.median(b - a for a, b in zip(clock.ends[1:], clock.ends[2:])) / n
    steps = n * int(min(200, max(8, seconds / warm)) // n + 1)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    wall = time.perf_counter() - start
    # Per step; the first call includes fit's set-up.
    step_times = [(b - a) / n for a, b in zip(clock.ends, clock.ends[1:])][1:]
    step = statistics.median(step_times)
    return {
        "preset": preset, "model": name, "batch_size": batch_size, "steps": steps,
        "jit_compile": str(model.jit_compile), "steps_per_execution": n,
        "ms_per_step": 1e3 * step,
        "ms_per_step_p10_p90": [1e3 * q for q in deciles(step_times)],
        "examples_per_second": batch_size / step,
        "examples_per_second_whole_fit": steps * batch_size / wall,
        "flops_per_example_layer_sizes": analytic,
        "flops_per_example_executed": executed,
        "achieved_flops_per_second": executed * batch_size / step,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_isolated(preset, name, batch_size, seconds, jit_compile, steps_per_execution):
    """measure_one in a fresh process, so that peak memory is this configuration's."""
    command = [sys.executable, __file__, "--one", preset, name, str(batch_size),
               "--seconds", str(seconds), "--jit-compile", jit_compile,
               "--steps-per-execution", str(steps_per_execution)]
    return fresh_process(command)


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
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="training steps per call of Keras's train function (default 1)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/flop_rate_cpu"))
    parser.add_argument("--one", nargs=3, metavar=("PRESET", "MODEL", "BATCH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    if args.one:
        preset, name, batch = args.one
        print(json.dumps(measure_one(preset, name, int(batch), args.seconds, jit,
                                     args.steps_per_execution)))
        return 0

    rates = [matmul_rate()]
    pipeline = {b: pipeline_rate(b) for b in args.batches}
    rows = []
    for preset in args.presets:
        for batch in args.batches:
            for name in args.models:
                row = run_isolated(preset, name, batch, args.seconds, args.jit_compile,
                                   args.steps_per_execution)
                rows.append(row)
                print(f"{preset} {name} batch {batch}: {row['examples_per_second']:.0f} "
                      f"examples/s, {row['achieved_flops_per_second'] / 1e9:.1f} GFLOP/s, "
                      f"peak RSS {row['peak_rss_mib']:.0f} MiB", flush=True)
    rates.append(matmul_rate())
    matmul = statistics.median(rates)
    result = {
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        "machine": f"{machine()}, TensorFlow {tf.__version__}, "
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
