"""Soak test of an exported decoder: many threads, thousands of mixed-size requests.

    python benchmarks/soak_serving.py [--requests 20000] [--threads 8] [SAVEDMODEL_DIR]

Loads the SavedModel once (TensorFlow's loader, as a server does) and calls its
`serving_default` signature from `--threads` threads with batch sizes drawn
from 1..64. Checks that no call fails and that every result equals the
single-threaded result for the same input; reports throughput and the
process's resident memory (RSS) after a warm-up and at the end. Without a
directory, exports a tiny AVB decoder (4x4 images, latent 2) to a temporary
folder first. Writes benchmarks/results/soak_serving[_<model>_<servable>].json.
"""

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def rss_mib():
    """This process's resident set size in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def soak(path, requests=2000, threads=8, max_batch=64, seed=0):
    """Runs the soak; returns its figures (raises AssertionError on any mismatch)."""
    import tensorflow as tf

    from avb_keras.export.requests import version_dir

    signature = tf.saved_model.load(str(version_dir(path))).signatures["serving_default"]
    latent = int(signature.structured_input_signature[1]["z"].shape[-1])
    rng = np.random.default_rng(seed)
    # A pool of distinct inputs; each request is one of them, so results can be compared.
    pool = [rng.normal(size=(int(b), latent)).astype("float32")
            for b in rng.integers(1, max_batch + 1, size=64)]
    expected = [signature(z=tf.constant(z))["probs"].numpy() for z in pool]
    order = rng.integers(0, len(pool), size=requests)
    for i in order[:200]:  # warm-up, single-threaded, before the first memory reading
        signature(z=tf.constant(pool[i]))
    rss_before = rss_mib()
    errors, mismatches, lock = [], [], threading.Lock()

    def worker(indices):
        for i in indices:
            try:
                out = signature(z=tf.constant(pool[i]))["probs"].numpy()
            except Exception as error:  # noqa: BLE001 - every failure is reported
                with lock:
                    errors.append(repr(error))
                continue
            if not np.array_equal(out, expected[i]):
                with lock:
                    mismatches.append(int(i))

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(order[k::threads],)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    rss_after = rss_mib()
    return {"requests": int(requests), "threads": threads, "examples": int(
        sum(len(pool[i]) for i in order)), "seconds": round(seconds, 2),
        "requests_per_second": round(requests / seconds, 1), "errors": errors[:5],
        "num_errors": len(errors), "mismatches": len(mismatches),
        "rss_mib_after_warmup": round(rss_before, 1), "rss_mib_at_end": round(rss_after, 1),
        "rss_growth_mib": round(rss_after - rss_before, 1)}


def tiny_decoder(folder):
    """Exports the decoder of an untrained AVB on 4x4 images (latent 2, 8 units a layer).

    Built here, not from the tests' helpers: tests/conftest.py splits the CPU into
    two logical devices on import, which would change what this measures.
    """
    from avb_keras import AVB, networks
    from avb_keras.export import export_decoder

    shape = (4, 4, 1)
    model = AVB(networks.implicit_encoder(shape, 2, hidden_units=(8,), noise_dim=4, seed=0),
                networks.mlp_decoder(2, shape, hidden_units=(8,)),
                networks.InnerProductAdversary(hidden_units=(8,), inner_dim=4), seed=0)
    return export_decoder(model, Path(folder) / "decoder")


def main():
    from timing import machine  # benchmarks/ is the script's folder (a test imports soak alone)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=None)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.path or tiny_decoder(folder)
        figures = soak(path, args.requests, args.threads)
    figures.update(model=str(args.path or "tiny AVB decoder (4x4x1, latent 2)"),
                   machine=f"{machine()} (shared)",
                   command="python benchmarks/soak_serving.py " + " ".join(
                       [args.path or ""] + [f"--{k} {v}" for k, v in (
                           ("requests", args.requests), ("threads", args.threads))]).strip())
    print(json.dumps(figures, indent=2))
    name = "soak_serving" + ("" if args.path is None else "_" + "_".join(
        Path(args.path).resolve().parts[-2:]))
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
