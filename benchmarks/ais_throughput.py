"""AIS evaluation: vectorized throughput against a per-example loop, and peak memory.

    python benchmarks/ais_throughput.py [--examples 100] [--naive-examples 10]
        [--chains 16] [--steps 20] [--data-path ../shared/data/mnist.npz]
        [--out benchmarks/results/ais_throughput_cpu.json]

Model: `VAE.from_preset("mnist_mlp")` (seed 0, untrained: the work per leapfrog
step does not depend on the weights), AIS from its encoder, on statically
binarized MNIST test images.

Throughput is counted in leapfrog steps x chains x examples per second (each
leapfrog step is one gradient of log p(x|z) + log p(z) per chain and example;
the step-size pilot chains run too and count as overhead). Two ways, in one
run, after tracing: `ais_log_likelihood` on a batch of `--examples` images (one
compiled loop over all chains and examples), and the same function called on
one image at a time in a Python loop.

Memory: `evaluate_log_likelihood` streams a data set in batches of 100, keeping
running sums only. Its peak resident memory (VmHWM, TensorFlow included) is
measured in fresh processes on the first 1,000 test images and on the whole
10,000 (full MNIST at --data-path; skipped, and said so, when it is absent),
at the default 16 chains and one temperature of one leapfrog step: what an AIS
batch holds does not depend on the number of temperatures, since the loop
keeps only its current state.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from avb_keras import VAE, datasets
from avb_keras.evaluation import ais_log_likelihood, evaluate_log_likelihood
from timing import peak_rss_mib

LEAPFROG_STEPS = 10


def test_images(name, num_examples, path=None):
    data = datasets.load(name, "test", batch_size=num_examples, binarize="static", seed=0,
                         num_examples=num_examples, path=path)
    return next(iter(data)).numpy()


def model():
    keras.utils.set_random_seed(0)
    return VAE.from_preset("mnist_mlp", seed=0)


def timed_ais(vae, x, chains, steps):
    start = time.perf_counter()
    ais_log_likelihood(vae, x, num_chains=chains, num_steps=steps,
                       leapfrog_steps=LEAPFROG_STEPS, seed=0)
    return time.perf_counter() - start


def throughput(examples, naive_examples, chains, steps):
    vae = model()
    x = test_images("mnist_small", examples)
    work = steps * LEAPFROG_STEPS * chains
    timed_ais(vae, x, chains, steps)  # traces for a batch of `examples`
    vectorized = timed_ais(vae, x, chains, steps)
    timed_ais(vae, x[:1], chains, steps)  # traces for one image
    looped = sum(timed_ais(vae, x[i:i + 1], chains, steps) for i in range(naive_examples))
    return {"examples": examples, "naive_examples": naive_examples, "chains": chains,
            "temperatures": steps, "leapfrog_steps": LEAPFROG_STEPS,
            "vectorized_seconds": vectorized, "naive_seconds": looped,
            "vectorized_rate": work * examples / vectorized,
            "naive_rate": work * naive_examples / looped}


def memory_one(num_examples, path):
    """Streams AIS over the first `num_examples` test images; returns the figures."""
    vae = model()
    name = "mnist" if num_examples > 1000 else "mnist_small"
    images = datasets.load(name, "test", batch_size=100, binarize="static", seed=0,
                           num_examples=num_examples, path=path)
    start = time.perf_counter()
    result = evaluate_log_likelihood(vae, images, verbose=0, seed=0, num_chains=16,
                                     num_steps=1, leapfrog_steps=1)
    return {"examples": result.num_examples, "seconds": time.perf_counter() - start,
            "peak_rss_mib": peak_rss_mib()}


def memory(num_examples, path):
    command = [sys.executable, __file__, "--memory-one", str(num_examples)]
    if path:
        command += ["--data-path", str(path)]
    out = subprocess.run(command, capture_output=True, text=True, check=False,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--naive-examples", type=int, default=10)
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="temperatures (default 20)")
    parser.add_argument("--data-path", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/mnist.npz")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/ais_throughput_cpu.json"))
    parser.add_argument("--memory-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_one:
        print(json.dumps(memory_one(args.memory_one, args.data_path)))
        return 0

    figures = throughput(args.examples, args.naive_examples, args.chains, args.steps)
    print(f"AIS, {args.chains} chains x {args.steps} temperatures x {LEAPFROG_STEPS} leapfrog "
          f"steps: vectorized over {args.examples} images "
          f"{figures['vectorized_rate']:.3g} leapfrog-chain-examples/s; one image at a time "
          f"{figures['naive_rate']:.3g}/s; speed-up "
          f"{figures['vectorized_rate'] / figures['naive_rate']:.1f}x", flush=True)
    streams = {"1000": memory(1000, None)}
    if args.data_path.exists():
        streams["10000"] = memory(10000, args.data_path)
    else:
        streams["10000"] = f"skipped: no full MNIST at {args.data_path}"
    for size, row in streams.items():
        print(f"evaluate_log_likelihood over {size} test images: "
              + (row if isinstance(row, str) else
                 f"peak RSS {row['peak_rss_mib']:.0f} MiB ({row['seconds']:.0f} s)"))
    result = {"command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, TensorFlow "
                         f"{tf.__version__}, GPUs: {len(tf.config.list_physical_devices('GPU'))}",
              "throughput": figures, "streaming_memory": streams}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
