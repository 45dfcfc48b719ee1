"""How long freeing a `tf.data` iterator takes, with tf.data's autotuning and without.

    git show 253514e:avb_keras/datasets/pipeline.py > /tmp/pipeline_before.py
    python benchmarks/iterator_stall.py --baseline /tmp/pipeline_before.py \
        [--iterators 40] [--age 20] [--rounds 5] [--data-path ../shared/data/mnist.npz] \
        [--out benchmarks/results/iterator_stall_cpu]

With autotuning on (tf.data's default), every iterator has a thread that re-tunes the
pipeline, sleeping between rounds for a period that doubles up to 60 s. Freeing the
iterator cancels that thread and waits for it; the cancellation wakes the thread
before it marks itself cancelled, so a thread that wakes first sees nothing to do and
sleeps out its period (a lost wake-up in TensorFlow's CancellationManager: callbacks
run before `is_cancelled_` is set). The thread loses the race when a core is idle to
wake it at once: between tests, or when Keras frees an epoch's iterator on a machine
with cores to spare (a CPU-bound training rarely loses it; docs/RESULTS.md).

This keeps `--iterators` iterators of the MNIST pipeline (`avb_keras.datasets.pipeline.
make_dataset`, batch 128, dynamic binarization) alive for `--age` seconds after their
first batch, then frees them one by one and times each, for two arms: the pipeline as
the library builds it, and a baseline (`--baseline`: another pipeline.py, such as the
library's before it switched autotuning off; without it, the library's with tf.data's
autotuning switched back on). Then it times each arm's batches per second (the median
of `--rounds` rounds of 2 s, alternating; on a quiet machine only; 0 skips it).
Writes OUT.json and prints the summary.
"""

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from avb_keras.datasets import pipeline as library


def baseline_maker(path):
    """make_dataset of the pipeline.py at `path`, or the library's with autotuning on."""
    if path is not None:
        spec = importlib.util.spec_from_file_location("baseline_pipeline", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.make_dataset

    def make_dataset(*args, **kwargs):
        options = tf.data.Options()
        options.autotune.enabled = True
        return library.make_dataset(*args, **kwargs).with_options(options)
    return make_dataset


def pipeline(images, make_dataset):
    return make_dataset(images, None, batch_size=128, binarize="dynamic", seed=0,
                        with_labels=False, shuffle=True, repeat=True)


def free_times(images, make_dataset, iterators, age):
    alive = []
    for _ in range(iterators):
        it = iter(pipeline(images, make_dataset))
        next(it)
        alive.append(it)
    time.sleep(age)
    seconds = []
    while alive:
        it = alive.pop()
        start = time.perf_counter()
        del it
        seconds.append(time.perf_counter() - start)
    return seconds


def batches_per_second(images, make_dataset, seconds):
    it = iter(pipeline(images, make_dataset))
    for _ in range(20):
        next(it)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
        n += 1
    return n / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterators", type=int, default=40)
    parser.add_argument("--age", type=float, default=20.0)
    parser.add_argument("--baseline", default=None, help="a pipeline.py to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-path", default=None,
                        help="MNIST npz (x_train); random images of its shape when absent")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/iterator_stall_cpu"))
    args = parser.parse_args(argv)
    if args.data_path and Path(args.data_path).exists():
        images = np.load(args.data_path)["x_train"][..., None]
    else:
        images = np.random.default_rng(0).integers(0, 256, (60000, 28, 28, 1), dtype=np.uint8)
    arms = {"library": library.make_dataset,
            "baseline" if args.baseline else "autotune on": baseline_maker(args.baseline)}
    result = {"command": " ".join(["benchmarks/iterator_stall.py", *sys.argv[1:]]),
              "iterators": args.iterators, "age_seconds": args.age, "arms": {}}
    for name, make_dataset in arms.items():
        times = free_times(images, make_dataset, args.iterators, args.age)
        result["arms"][name] = {"free_seconds": [round(t, 4) for t in times]}
    rates = {name: [] for name in arms}
    for round_ in range(args.rounds):
        for name in (list(arms) if round_ % 2 == 0 else list(arms)[::-1]):
            rates[name].append(batches_per_second(images, arms[name], 2.0))
    for name, r in result["arms"].items():
        t = r["free_seconds"]
        r.update(stalls_over_1s=sum(v > 1.0 for v in t), max_free_seconds=max(t),
                 mean_free_seconds=statistics.mean(t),
                 batches_per_second_median=(statistics.median(rates[name])
                                            if rates[name] else None),
                 batches_per_second=[round(v, 1) for v in rates[name]])
        print(f"{name}: {r['stalls_over_1s']} of {len(t)} frees over 1 s (longest "
              f"{r['max_free_seconds']:.1f} s, mean {r['mean_free_seconds']:.2f} s); "
              + (f"{r['batches_per_second_median']:.0f} batches/s (median of {args.rounds})"
                 if args.rounds else "throughput not timed"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(str(args.out) + ".json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
