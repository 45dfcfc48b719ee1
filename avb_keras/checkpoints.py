"""Saving without ever leaving a half-written model in place of a good one.

`save_atomic` writes to a temporary file beside the target and renames it into
place (`os.replace` is atomic on one file system): a crash mid-save leaves the
previous file intact.
"""

import os
from pathlib import Path

import keras


def save_atomic(model, path):
    """Save `model` to `path` (a `.keras` file) atomically; returns the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Model files end in '.keras'; got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights, config, both optimizers) after every epoch."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        save_atomic(self.model, self.path)
