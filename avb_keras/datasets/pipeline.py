"""Turns in-memory uint8 image arrays (or image files) into a batched ``tf.data`` pipeline.

The decoded uint8 arrays stay in memory; shuffling, batching, conversion to
float32 in [0, 1] and (dynamic) binarization happen on the fly, vectorized per
batch, with the next batches prefetched.

tf.data's autotuning is switched off, and fixed sizes stand in for it: with it on, every
iterator keeps a thread that re-tunes the pipeline between sleeps of up to 60 s, and
freeing the iterator (Keras frees the training iterator at the end of every epoch)
sometimes waits out that thread's whole sleep, since TensorFlow's cancellation wakes
the thread before marking it cancelled; it happens when a core is idle to wake the
thread at once. Measured with `benchmarks/iterator_stall.py`: 11 of 30 idle iterators
75 s old took 58-60 s to free with autotuning, none over 0.1 s without.
"""

import os

import numpy as np
import tensorflow as tf

BINARIZE = ("dynamic", "static", None)
#: The fixed sizes that replace tf.data's autotuning: maps run on every core, and this
#: many batches wait ready while the model trains on one.
PARALLEL_CALLS = os.cpu_count() or 1
PREFETCH_BATCHES = 2


def static_binarize(images, seed):
    """One fixed Bernoulli(pixel / 255) draw per pixel; returns uint8 0/255.

    ``u < pixel`` with ``u`` uniform on {0, ..., 254} is true with probability
    exactly ``pixel / 255``.
    """
    u = np.random.default_rng(seed).integers(0, 255, size=images.shape, dtype=np.uint8)
    return np.where(u < images, np.uint8(255), np.uint8(0))


def make_dataset(images, labels, *, batch_size, binarize, seed, with_labels,
                 shuffle, repeat, load_example=None):
    """Batched, prefetched dataset of float32 images (and labels if asked).

    Args:
        images: uint8 array ``(n, H, W, C)`` of grey levels 0..255.
        labels: integer array ``(n,)``.
        batch_size: examples per batch; the last partial batch is kept.
        binarize: ``"dynamic"`` (a fresh Bernoulli draw per pixel each time it
            is read, reproducible from ``seed``), ``"static"`` (one fixed
            draw from ``seed``, 0 if ``None``) or ``None`` (grey levels / 255).
        seed: seeds shuffling and binarization; ``None`` is nondeterministic.
        with_labels: yield ``(images, labels)`` pairs instead of images.
        shuffle: reshuffle the examples on every pass.
        repeat: repeat indefinitely (epochs are concatenated before batching).
        load_example: when ``images`` are file names rather than arrays, the
            function from one name to its uint8 image ``(H, W, C)``, applied in
            parallel after shuffling (so only names are shuffled).
    """
    if binarize == "static":
        images = static_binarize(images, 0 if seed is None else seed)
    ds = tf.data.Dataset.from_tensor_slices((images, labels) if with_labels else images)
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if load_example is not None:
        load = (lambda f, y: (load_example(f), y)) if with_labels else load_example
        ds = ds.map(load, num_parallel_calls=PARALLEL_CALLS, deterministic=True)
    ds = ds.batch(batch_size)

    def to_float(x):
        return tf.cast(x, tf.float32) / 255.0

    def resample(x, noise_seed):
        u = tf.random.stateless_uniform(tf.shape(x), seed=tf.stack([noise_seed, 0]))
        return tf.cast(u < to_float(x), tf.float32)

    if binarize == "dynamic":
        # One int64 seed per batch; a new seed sequence on every pass, so each
        # epoch is binarized afresh, yet the whole run is fixed by `seed`.
        noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, noise)
        if with_labels:
            fn = lambda xy, s: (resample(xy[0], s), xy[1])  # noqa: E731
        else:
            fn = resample
    else:
        fn = (lambda x, y: (to_float(x), y)) if with_labels else to_float
    ds = ds.map(fn, num_parallel_calls=PARALLEL_CALLS, deterministic=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)
