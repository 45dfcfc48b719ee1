"""What the speed benchmarks share: the machine's matmul rate, peak memory, the
state of the machine and its one-line description, a step clock for `model.fit`,
medians with their spread, and a run in a fresh process.

Imports no TensorFlow at module level, so that the PyTorch worker of
`throughput.py` can use it too.
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path


def matmul_rate(n=4096, repeats=7):
    """Median float32 FLOP/s of an n x n x n tf.matmul (2 n^3 FLOPs), after one warm-up."""
    import tensorflow as tf

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


def pipeline_rate(data, batch_size, batches, warm_up):
    """Examples/s of an input pipeline alone (no model): `batches` batches read from the
    iterator `data` after `warm_up` batches."""
    for _ in range(warm_up):
        next(data)
    start = time.perf_counter()
    for _ in range(batches):
        next(data)
    return batches * batch_size / (time.perf_counter() - start)


def peak_rss_mib():
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the
    parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average():
    """The 1-minute load average (how busy the machine was; a timing wants it < 0.3)."""
    return os.getloadavg()[0]


def machine():
    """One line: architecture, cores, CPU flags that matter here."""
    flags = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text()
        flags = ", ".join(f for f in ("avx512f", "avx512_bf16", "amx_bf16")
                          if f" {f}" in text)
    return f"{platform.machine()}, {os.cpu_count()} cores" + (f" ({flags})" if flags else "")


def fresh_process(command):
    """The JSON object that `command` (an argv) prints last, run in a fresh process.

    A fresh process holds no other configuration's memory, traces or caches, so
    its peak memory and first-call times are the command's own.

    Raises:
      RuntimeError: the command failed (with the end of its stderr).
    """
    out = subprocess.run(command, capture_output=True, text=True, check=False,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values):
    """{"median", "min", "max"} of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def deciles(values):
    """(10th, 90th) percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[len(ordered) // 10], ordered[(9 * len(ordered)) // 10]


def step_clock():
    """A Keras callback recording the wall-clock end of every call of the train
    function (one per `steps_per_execution` steps) in `.ends`, from fit's start."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    return StepClock()
