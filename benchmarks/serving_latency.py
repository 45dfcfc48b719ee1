"""Serving latency: the exported `serving_default` signature against Keras, same decoder.

    .venv/bin/python benchmarks/serving_latency.py [--preset mnist_mlp] [--calls 500]

The decoder of `AVB.from_preset(preset)` is exported with
`avb_keras.export.export_decoder` to a temporary folder and loaded with
`tf.saved_model.load`, as a server would. Three ways to decode the same z:

- signature: `loaded.signatures["serving_default"](z=...)` -> probs and logits;
- model.predict: `model.decoder.predict(z, verbose=0)` (Keras's batch inference
  loop; returns the logits);
- keras call: `model.decode(z)` eagerly (the decoder called directly, plus the sigmoid).

Latency at batch 1: median and 99th percentile over `--calls` calls, after warm-up.
Throughput at batch 256: images per second over `--seconds` of back-to-back calls.
Prints a markdown table and writes it with the JSON to --out (default
benchmarks/results/serving_latency.{json,md}).
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timing import machine  # noqa: E402

from avb_keras import AVB  # noqa: E402
from avb_keras.export import export_decoder  # noqa: E402


def latency(fn, calls, warmup=10):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times = np.array(times) * 1e3
    return {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)),
            "calls": calls}


def throughput(fn, batch, seconds, warmup=3):
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    elapsed = time.perf_counter() - start
    return {"images_per_s": batch * calls / elapsed, "calls": calls, "batch": batch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="mnist_mlp")
    parser.add_argument("--calls", type=int, default=500, help="batch-1 calls per method")
    parser.add_argument("--predict-calls", type=int, default=200,
                        help="batch-1 calls for model.predict (slow)")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="seconds of batch-256 calls per method")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    model = AVB.from_preset(args.preset, seed=0)
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(1, model.latent_dim)).astype("float32")
    z256 = rng.normal(size=(256, model.latent_dim)).astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        signature = tf.saved_model.load(str(export_decoder(model, Path(tmp) / "decoder"))) \
            .signatures["serving_default"]
        z1_t, z256_t = tf.constant(z1), tf.constant(z256)
        np.testing.assert_allclose(signature(z=z1_t)["logits"], model.decoder.predict(
            z1, verbose=0), atol=1e-4)  # the same decoder
        methods = {
            "signature": (lambda: signature(z=z1_t), lambda: signature(z=z256_t)),
            "model.predict": (lambda: model.decoder.predict(z1, verbose=0),
                              lambda: model.decoder.predict(z256, batch_size=256, verbose=0)),
            "keras call": (lambda: model.decode(z1_t), lambda: model.decode(z256_t)),
        }
        results = {}
        for name, (one, many) in methods.items():
            calls = args.predict_calls if name == "model.predict" else args.calls
            results[name] = {"batch_1": latency(one, calls),
                             "batch_256": throughput(many, 256, args.seconds)}
            print(name, json.dumps(results[name]), flush=True)

    base = results["signature"]["batch_1"]["median_ms"]
    report = {
        "preset": args.preset, "latent_dim": model.latent_dim,
        "machine": f"{machine()}, {platform.system()}",
        "tensorflow": tf.__version__,
        "command": " ".join(["python benchmarks/serving_latency.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "results": results,
        "speedup_batch_1_median": {name: r["batch_1"]["median_ms"] / base
                                   for name, r in results.items()},
    }
    lines = ["| method | batch 1 median (ms) | batch 1 p99 (ms) | batch 1 median vs signature "
             "| batch 256 throughput (images/s) |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['batch_1']['median_ms']:.3f} | {r['batch_1']['p99_ms']:.3f} "
                     f"| {report['speedup_batch_1_median'][name]:.1f}x "
                     f"| {r['batch_256']['images_per_s']:.0f} |")
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving_latency.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "serving_latency.md").write_text(
        f"Decoder of AVB.from_preset({args.preset!r}) (latent {model.latent_dim}); "
        f"{report['machine']}; TensorFlow {tf.__version__}.\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
