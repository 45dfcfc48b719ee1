"""AIS accuracy against exact log-likelihoods, and the cost of XLA on/off.

    .venv/bin/python benchmarks/ais_accuracy.py [--out docs/ais_accuracy.json] [--quick]

1. Linear-Gaussian model (`avb_keras.evaluation.linear_gaussian`, latent 2, data 6,
   noise 0.3, 64 examples): AIS error against the closed form at several num_steps,
   with the prior and with the encoder as p0 (16 chains, 10 leapfrog steps, sigmoid;
   XLA on, and `seconds` includes its compilation).
2. four_frames AVB with Adaptive Contrast (preset, seed 0), at its initial weights
   and after a short training: AIS against quadrature (400 x 400 grid).
3. Wall time of one AIS call with and without XLA (compile and steady state).

Prints each figure and writes them all to a JSON file.
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from timing import machine  # noqa: E402

from avb_keras import AVB, VAE, datasets  # noqa: E402
from avb_keras.atomic import write_text  # noqa: E402
from avb_keras.evaluation import (ais_log_likelihood, linear_gaussian,  # noqa: E402
                                  quadrature_log_likelihood)


def errors(estimate, exact):
    e = estimate.log_likelihood - exact
    return dict(mean_abs_error=float(np.mean(np.abs(e))), mean_error=float(np.mean(e)),
                max_abs_error=float(np.max(np.abs(e))),
                mean_standard_error=float(np.mean(estimate.standard_error)),
                mean_ess=float(np.mean(estimate.effective_sample_size)),
                acceptance=float(np.mean(estimate.acceptance_rate)))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def linear_gaussian_rows(steps):
    model, x, exact = linear_gaussian(num_examples=64)
    rows = []
    for initial in ("prior", "encoder"):
        for num_steps in steps:
            result, seconds = timed(lambda: ais_log_likelihood(
                model, x, num_steps=num_steps, seed=0, initial=initial, jit_compile=True))
            rows.append(dict(initial=initial, num_steps=num_steps, seconds=seconds,
                             **errors(result, exact)))
            print("linear-Gaussian", rows[-1], flush=True)
    return rows


def four_frames_rows(train_steps, steps):
    keras.utils.set_random_seed(0)
    model = AVB.from_preset("four_frames", seed=0)
    x = np.eye(4, dtype="float32").reshape(4, 2, 2, 1)
    rows = []
    for trained in (0, train_steps):
        if trained:
            model.compile()
            data = datasets.load("four_frames", split="train", batch_size=512, repeat=True)
            model.fit(data, steps_per_epoch=trained, epochs=1, verbose=0)
        exact = quadrature_log_likelihood(model, x)
        for initial in (None, "prior"):
            for num_steps in steps:
                result = ais_log_likelihood(model, x, num_steps=num_steps, seed=0,
                                            initial=initial, jit_compile=True)
                rows.append(dict(train_steps=trained, initial=initial or "r(z|x)",
                                 num_steps=num_steps, quadrature=float(np.mean(exact)),
                                 ais=float(np.mean(result.log_likelihood)),
                                 **errors(result, exact)))
                print("four_frames", rows[-1], flush=True)
    return rows


def xla_rows(num_steps):
    rows = []
    model, x, _ = linear_gaussian(num_examples=32)
    images = next(iter(datasets.load("mnist_small", split="test", batch_size=10)))
    mnist = VAE.from_preset("mnist_mlp", seed=0)                  # 784-d data, latent 32
    for name, m, data in (("linear-Gaussian, 32 examples", model, x),
                          ("mnist_mlp VAE, 10 images", mnist, images)):
        for jit in (True, False):
            _, first = timed(lambda: ais_log_likelihood(m, data, num_steps=num_steps, seed=0,
                                                        jit_compile=jit))
            _, second = timed(lambda: ais_log_likelihood(m, data, num_steps=num_steps, seed=1,
                                                         jit_compile=jit))
            rows.append(dict(model=name, jit_compile=jit, num_steps=num_steps,
                             first_call_seconds=first, second_call_seconds=second))
            print("timing", rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/ais_accuracy.json")
    parser.add_argument("--quick", action="store_true", help="fewer settings (a smoke run)")
    args = parser.parse_args()
    steps = (10, 100) if args.quick else (10, 30, 100, 300, 1000, 3000)
    report = dict(
        command="python benchmarks/ais_accuracy.py" + (" --quick" if args.quick else ""),
        machine=f"{machine()}, {platform.platform(terse=True)}",
        linear_gaussian=linear_gaussian_rows(steps),
        four_frames=four_frames_rows(50 if args.quick else 500,
                                     (100,) if args.quick else (100, 1000)),
        xla=xla_rows(100 if args.quick else 200))
    write_text(args.out, json.dumps(report, indent=1))  # never a half-written file
    print("wrote", args.out)


if __name__ == "__main__":
    main()
