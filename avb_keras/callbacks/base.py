"""What the TensorBoard callbacks share: one writer per run, the global step,
a fixed monitoring batch, and monitoring that leaves training untouched.

Every summary is written at an explicit step,

    step = model.optimizer.iterations   (the primal optimizer's update count),

so that scalars, histograms and images of one run line up, whatever the
number of adversary updates per step. All callbacks given the same `log_dir`
share one `tf.summary` writer, hence one event file per run directory.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from avb_keras.seeding import unchanged_random_state  # noqa: F401  (the callbacks' import)

_WRITERS = {}


def summary_writer(log_dir):
    """The process's one `tf.summary` writer for `log_dir` (created on first use)."""
    key = os.path.abspath(os.fspath(log_dir))
    if key not in _WRITERS:
        _WRITERS[key] = tf.summary.create_file_writer(key)
    return _WRITERS[key]


def close_writer(log_dir):
    """Flush and close the writer of `log_dir`, if any (a later use opens a new file)."""
    writer = _WRITERS.pop(os.path.abspath(os.fspath(log_dir)), None)
    if writer is not None:
        writer.close()



def monitoring_batch(data, size):
    """A fixed batch `(images, labels or None)` as NumPy arrays, at most `size` examples.

    `data` is an array of images, an `(images, labels)` tuple, a dict with an
    "image" (and optionally "label") key, or a `tf.data.Dataset` of any of
    these (its first batch is used).
    """
    if isinstance(data, tf.data.Dataset):
        data = next(iter(data.take(1)), None)
        if data is None:
            raise ValueError("The monitoring dataset is empty: expected at least one batch "
                             "of images shaped [batch, height, width, channels].")
    labels = None
    if isinstance(data, dict):
        if "image" not in data:
            raise ValueError(f"Monitoring data given as a dict need an 'image' key; got keys "
                             f"{sorted(data)}.")
        images, labels = data["image"], data.get("label")
    elif isinstance(data, (tuple, list)) and len(data) in (2, 3) and np.ndim(data[0]) >= 2:
        images, labels = data[0], data[1]
    else:
        images = data
    images = np.asarray(images)
    if images.ndim < 2 or images.shape[0] == 0:
        raise ValueError(f"Monitoring data must be a non-empty batch of images shaped "
                         f"[batch, height, width, channels]; got shape {images.shape}.")
    images = images[:size].astype("float32")
    if labels is not None:
        labels = np.asarray(labels)[:size].reshape(-1)
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"Got {labels.shape[0]} labels for {images.shape[0]} images.")
    return images, labels


class SummaryCallback(keras.callbacks.Callback):
    """Base of the avb_keras TensorBoard callbacks: the writer and the step.

    Args:
      log_dir: the run's directory for these summaries. Use a directory of its
        own (e.g. RUN/logs/avb) beside `keras.callbacks.TensorBoard`'s
        RUN/logs, whose writers use RUN/logs/train and RUN/logs/validation.
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = os.fspath(log_dir)

    @property
    def writer(self):
        return summary_writer(self.log_dir)

    @property
    def step(self):
        """The global step: the primal optimizer's `iterations`."""
        return int(self.model.optimizer.iterations.numpy())

    def on_train_end(self, logs=None):
        self.writer.flush()


