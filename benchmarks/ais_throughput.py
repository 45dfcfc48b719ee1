"""AIS evaluation: steady-state speed against the machine's matmul rate, first call,
tracing, a per-example loop, and peak memory.

    python benchmarks/ais_throughput.py [--examples 100] [--naive-examples 10]
        [--chains 16] [--steps 20] [--repeats 3] [--data-path ../shared/data/mnist.npz]
        [--out benchmarks/results/ais_throughput_cpu.json]

Model: `VAE.from_preset("mnist_mlp")` (seed 0, untrained: the work per leapfrog
step does not depend on the weights), AIS from its encoder, on statically
binarized MNIST test images.

Work. A leapfrog step of one chain on one example is one gradient of
log p(z) + log p(x|z) with respect to z: the decoder forward and its
input-gradient backward, 2 + 2 = 4 FLOPs per decoder weight (2 per
multiply-add; no weight gradients), `flop_per_leapfrog` below (2.72 MFLOP for
this decoder). Throughput is counted in leapfrog steps x estimating chains x
examples per second; the useful FLOP rate is that times `flop_per_leapfrog`.
The loop also runs the step-size pilot chains (`adaptation_chains`, 4 beside
16 by default) and, at each temperature, one more gradient for the HMC
kernel's start (the target changes with beta), so the executed matrix work is
(C + P) / C x (L + 1) / L times the counted: the executed FLOP rate is what
the machine delivers, to compare with its dense float32 matmul rate
(4096^3, median of 7, before and after, in this process).

Speed. `ais_log_likelihood` on a batch of `--examples` images: the first call
(tracing included) and the median of `--repeats` later calls with other seeds
(steady state); then the same function on one image at a time in a Python loop.
Tracing: the number of traces of the annealing loop after
`evaluate_log_likelihood` streams 3 full batches and a partial one.

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
import statistics
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
from timing import fresh_process, load_average, machine, matmul_rate, peak_rss_mib

from avb_keras import VAE, datasets, flops
from avb_keras.evaluation import ais, ais_log_likelihood, evaluate_log_likelihood

LEAPFROG_STEPS = 10
PILOT_CHAINS = 4  # ais_log_likelihood's default adaptation_chains


def test_images(name, num_examples, path=None):
    data = datasets.load(name, "test", batch_size=num_examples, binarize="static", seed=0,
                         num_examples=num_examples, path=path)
    return next(iter(data)).numpy()


def model():
    keras.utils.set_random_seed(0)
    return VAE.from_preset("mnist_mlp", seed=0)


def timed_ais(vae, x, chains, steps, seed=0):
    start = time.perf_counter()
    ais_log_likelihood(vae, x, num_chains=chains, num_steps=steps,
                       leapfrog_steps=LEAPFROG_STEPS, seed=seed,
                       adaptation_chains=PILOT_CHAINS)
    return time.perf_counter() - start


def flop_per_leapfrog(vae):
    """Matrix FLOPs of one leapfrog step of one chain on one example: the decoder's
    forward pass and its backward pass to z (4 per decoder weight)."""
    return 2 * flops.network_flops(vae.decoder)


def throughput(examples, naive_examples, chains, steps, repeats):
    vae = model()
    x = test_images("mnist_small", examples)
    work = steps * LEAPFROG_STEPS * chains
    first = timed_ais(vae, x, chains, steps)  # traces for a batch of `examples`
    later = [timed_ais(vae, x, chains, steps, seed=i + 1) for i in range(repeats)]
    steady = statistics.median(later)
    timed_ais(vae, x[:1], chains, steps)  # traces for one image
    looped = sum(timed_ais(vae, x[i:i + 1], chains, steps) for i in range(naive_examples))
    per_leapfrog = flop_per_leapfrog(vae)
    overhead = (chains + PILOT_CHAINS) / chains * (LEAPFROG_STEPS + 1) / LEAPFROG_STEPS
    rate = work * examples / steady
    return {"examples": examples, "naive_examples": naive_examples, "chains": chains,
            "pilot_chains": PILOT_CHAINS, "temperatures": steps,
            "leapfrog_steps": LEAPFROG_STEPS,
            "first_call_seconds": first, "later_call_seconds": later,
            "first_over_later": first / steady,
            "vectorized_seconds": steady, "naive_seconds": looped,
            "vectorized_rate": rate, "naive_rate": work * naive_examples / looped,
            "flop_per_leapfrog": per_leapfrog, "executed_over_counted": overhead,
            "useful_flops_per_second": rate * per_leapfrog,
            "executed_flops_per_second": rate * per_leapfrog * overhead}


def traces_over_batches(batches=3, batch_size=100, steps=2):
    """Traces of the annealing loop after streaming `batches` full batches and a partial one."""
    vae = model()
    images = test_images("mnist_small", batches * batch_size + batch_size // 2)
    evaluate_log_likelihood(vae, images, batch_size=batch_size, verbose=0, seed=0,
                            num_chains=16, num_steps=steps, leapfrog_steps=LEAPFROG_STEPS)
    # (The cached loop of these settings; see ais._annealing_loop.)
    loop = ais._annealing_loop(vae, 16, PILOT_CHAINS, LEAPFROG_STEPS, ais.JIT_COMPILE)
    return {"full_batches": batches, "partial_batches": 1,
            "traces": loop.experimental_get_tracing_count()}


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
    return fresh_process(command)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--naive-examples", type=int, default=10)
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="temperatures (default 20)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="steady-state calls after the first (default 3)")
    parser.add_argument("--data-path", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/mnist.npz")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/ais_throughput_cpu.json"))
    parser.add_argument("--memory-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_one:
        print(json.dumps(memory_one(args.memory_one, args.data_path)))
        return 0

    load_before = load_average()
    matmul = [matmul_rate()]
    figures = throughput(args.examples, args.naive_examples, args.chains, args.steps,
                         args.repeats)
    matmul.append(matmul_rate())
    dense = statistics.median(matmul)
    figures["useful_of_matmul"] = figures["useful_flops_per_second"] / dense
    figures["executed_of_matmul"] = figures["executed_flops_per_second"] / dense
    tracing = traces_over_batches()
    print(f"AIS, {args.chains} chains (+{PILOT_CHAINS} pilots) x {args.steps} temperatures x "
          f"{LEAPFROG_STEPS} leapfrog steps over {args.examples} images: first call "
          f"{figures['first_call_seconds']:.2f} s, later calls {figures['vectorized_seconds']:.2f}"
          f" s (median; first/later {figures['first_over_later']:.2f}x)\n"
          f"  {figures['vectorized_rate']:.4g} leapfrog-chain-examples/s x "
          f"{figures['flop_per_leapfrog'] / 1e6:.3f} MFLOP = "
          f"{figures['useful_flops_per_second'] / 1e9:.1f} GFLOP/s useful "
          f"({figures['useful_of_matmul']:.0%} of the matmul rate), "
          f"{figures['executed_flops_per_second'] / 1e9:.1f} GFLOP/s executed "
          f"({figures['executed_of_matmul']:.0%}); dense matmul "
          f"{', '.join(f'{m / 1e9:.0f}' for m in matmul)} GFLOP/s\n"
          f"  one image at a time: {figures['naive_rate']:.3g}/s (vectorized "
          f"{figures['vectorized_rate'] / figures['naive_rate']:.1f}x)\n"
          f"  traces of the annealing loop after 3 full batches and a partial one: "
          f"{tracing['traces']}", flush=True)
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
              "machine": f"{machine()}, TensorFlow {tf.__version__}, GPUs: "
                         f"{len(tf.config.list_physical_devices('GPU'))}",
              "load_average_before": load_before, "load_average_after": load_average(),
              "matmul_flops_per_second": matmul, "throughput": figures, "tracing": tracing,
              "streaming_memory": streams}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
