"""Training speed on a folder of images: celeba_conv at 32x32 and 64x64 against the CPU
preset folder_small, each step's time against its FLOPs and the machine's matmul rate.

    python benchmarks/folder_speed.py [--images 1000] [--seconds 20]
        [--configs celeba_conv:32:2 celeba_conv:64:2 folder_small:32]

A configuration is PRESET:SIZE[:N], N the steps per execution (default: the
preset's; celeba_conv's are lowered to 2 so that a timed fit of its slow steps
ends in minutes).

Makes a folder of synthetic 64x64 PNGs (seeded gradients and discs) in a temporary
directory: nothing is downloaded. For each preset and image size, a fresh process
builds AVB (seed 0, the preset's networks, optimizers and steps per execution),
reads the folder through the package's own pipeline (`datasets.load("folder")`,
decoded into memory, shuffled, batched, prefetched) and trains with `model.fit`:
one traced warm-up fit, then a timed fit of about --seconds, the end of every
call of the train function recorded. Reported per configuration, as
benchmarks/flop_rate.py does for the MLPs:

- ms per step (median over the calls), steps/s and examples/s;
- FLOPs per example from the layer sizes and as executed by the traced step
  (`avb_keras.flops`), and the achieved FLOP rate against the float32 matmul rate
  measured in the same run (before and after the models);
- the time of the traced first fit (tracing and graph building) and the size of
  the saved model (`model.save`, both players' optimizer states included);
- the input pipeline alone, in examples/s;
- the 1-minute load average before each configuration (the machine may be shared).

Writes benchmarks/results/folder_speed_cpu.json (--out) and prints the table.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import timing  # noqa: E402
from timing import deciles, load_average, machine, matmul_rate, peak_rss_mib, step_clock

CONFIGS = ("celeba_conv:32:2", "celeba_conv:64:2", "folder_small:32")


def make_folder(folder, count, size=64):
    """`count` seeded synthetic RGB PNGs (a colour gradient and a disc) in `folder`."""
    import numpy as np
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    for i in range(count):
        colours = rng.uniform(0, 1, (3, 3))
        disc = ((x - rng.uniform(.3, .7)) ** 2 + (y - rng.uniform(.3, .7)) ** 2
                < rng.uniform(.01, .1))
        image = (colours[0] * (1 - x[..., None]) + colours[1] * y[..., None]
                 + colours[2] * disc[..., None])
        pixels = (255 * image / image.max()).astype(np.uint8)
        (folder / f"img{i:05d}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    return folder


def pipeline_rate(folder, image_size, batch_size=64, batches=100):
    """Examples/s of the folder's training pipeline alone (after it is decoded)."""
    from avb_keras import datasets

    data = iter(datasets.load("folder", "train", path=folder, image_size=image_size,
                              batch_size=batch_size, seed=0, repeat=True))
    return timing.pipeline_rate(data, batch_size, batches, warm_up=5)


def measure_one(preset, size, folder, seconds, steps_per_execution=None):
    """One configuration, in this process: a dict of its figures."""
    import keras

    from avb_keras import AVB, datasets, flops, presets

    keras.utils.set_random_seed(0)
    model = AVB.from_preset(preset, data_shape=(size, size, 3), seed=0)
    n = steps_per_execution or presets.get(preset).steps_per_execution
    batch_size = presets.get(preset).batch_size
    model.compile(steps_per_execution=n)
    data = datasets.load("folder", "train", path=folder, image_size=size,
                         batch_size=batch_size, seed=0, repeat=True)
    clock = step_clock()
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=2 * n, verbose=0, callbacks=[clock])
    first_fit = time.perf_counter() - start
    warm = (clock.ends[-1] - clock.ends[-2]) / n
    steps = n * max(2, int(seconds / warm) // n)
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    step_times = [(b - a) / n for a, b in zip(clock.ends, clock.ends[1:])][1:]
    step = statistics.median(step_times)
    executed = flops.graph_flops(model, batch_size)
    return {"preset": preset, "image_size": size, "batch_size": batch_size,
            "steps_per_execution": n, "steps": steps, "ms_per_step": 1e3 * step,
            "ms_per_step_p10_p90": [1e3 * q for q in deciles(step_times)],
            "steps_per_second": 1 / step, "examples_per_second": batch_size / step,
            "first_fit_seconds": first_fit,
            "flops_per_example_layer_sizes": flops.train_step_flops(model),
            "flops_per_example_executed": executed,
            "achieved_flops_per_second": executed * batch_size / step,
            "saved_model_bytes": saved_size(model), "peak_rss_mib": peak_rss_mib()}


def saved_size(model):
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.keras"
        model.save(path)
        return path.stat().st_size


def run_isolated(config, folder, seconds):
    """`measure_one` in a fresh process."""
    preset, size, *per_call = config.split(":")
    command = [sys.executable, __file__, "--one", preset, size, *per_call[:1],
               "--folder", str(folder), "--seconds", str(seconds)]
    load = load_average()
    out = subprocess.run(command, capture_output=True, text=True, check=False,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load_average_before": load}


def table(rows, matmul):
    lines = ["| preset | size | ms/step | steps/s | FLOPs/example (executed) | GFLOP/s "
             "| of matmul rate | first fit (s) | model.keras (MB) | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['preset']} | {r['image_size']} | {r['ms_per_step']:.0f} "
              f"| {r['steps_per_second']:.2f} | {r['flops_per_example_executed'] / 1e6:.0f} M "
              f"| {r['achieved_flops_per_second'] / 1e9:.1f} "
              f"| {r['achieved_flops_per_second'] / matmul:.0%} | {r['first_fit_seconds']:.0f} "
              f"| {r['saved_model_bytes'] / 1e6:.1f} | {r['load_average_before']:.1f} |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), metavar="PRESET:SIZE")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "folder_speed_cpu.json")
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs="+", metavar="PRESET SIZE [N]", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        preset, size, *per_call = args.one
        print(json.dumps(measure_one(preset, int(size), args.folder, args.seconds,
                                     *map(int, per_call))))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = make_folder(Path(scratch) / "images", args.images)
        rates = [matmul_rate()]
        pipeline = {size: pipeline_rate(folder, size) for size in (32, 64)}
        rows = [run_isolated(config, folder, args.seconds) for config in args.configs]
        rates.append(matmul_rate())
    matmul = statistics.median(rates)
    result = {"command": "python benchmarks/folder_speed.py " + " ".join(sys.argv[1:]),
              "machine": machine(), "matmul_flops_per_second": matmul, "matmul_runs": rates,
              "pipeline_examples_per_second": pipeline, "rows": rows,
              "table": table(rows, matmul)}
    print(result["table"])
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
