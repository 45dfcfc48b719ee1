"""Saving without ever leaving a half-written model in place of a good one.

`save_atomic` writes to a temporary file beside the target and renames it into
place (`os.replace` is atomic on one file system): a crash mid-save leaves the
previous file intact.

`TrainingCheckpoint` and `latest` make a run resumable: after every epoch a
whole checkpoint folder (model with both optimizers, random generator states,
data position) is written under a temporary name and renamed into place.
"""

import json
import os
import shutil
import uuid
from pathlib import Path

import keras
import numpy as np

from avb_keras.seeding import seed_state_variables


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




# ------------------------------------------------------------------ resumable runs

#: Complete checkpoints kept in a run's checkpoints/ folder (older ones are deleted).
KEEP = 2
STATE = "state.json"
MODEL = "model.keras"


def write_text_atomic(path, text):
    """Write `text` to `path` through a temporary file beside it and a rename."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def seed_states(model):
    """The state of every `keras.random.SeedGenerator` in `model`, in variable order.

    A `.keras` file does not store them, so a resumed run would otherwise draw
    the noise of its first epoch again.
    """
    return [[int(s) for s in np.asarray(v.numpy()).ravel()] for v in seed_state_variables(model)]


def restore_seed_states(model, states):
    variables = seed_state_variables(model)
    if len(states) != len(variables):
        raise ValueError(f"The checkpoint has {len(states)} random generator states but the "
                         f"model has {len(variables)}; was it written by another model?")
    for variable, state in zip(variables, states):
        variable.assign(np.asarray(state, variable.dtype).reshape(variable.shape))


class TrainingCheckpoint(keras.callbacks.Callback):
    """Everything a killed `fit` needs to resume, saved atomically after every epoch.

    Writes `FOLDER/epoch-NNNN/` holding `model.keras` (weights, config, every
    player's optimizer state) and `state.json` (epochs done, primal steps done =
    batches read, the random generators' states, `settings`, the metrics of
    every epoch so far). The folder is written as `FOLDER/.partial-*` and
    renamed, so a checkpoint either exists whole or not at all; then
    `FOLDER/last.keras` is pointed at the new model (a hard link, renamed into
    place) and all but the newest `KEEP` checkpoints are deleted.

    Before saving, each finished epoch is appended as one JSON line to
    `journal` (if given): a record of the epochs actually run, lost ones included.

    Args:
      folder: the checkpoints folder (created if needed).
      settings: a JSON-serializable dict recorded in `state.json` (e.g. the
        command-line settings a resumed run must match).
      history: metrics of the epochs before this `fit` (from `latest`).
      journal: optional path of the append-only epoch journal.
    """

    def __init__(self, folder, settings=None, history=None, journal=None):
        super().__init__()
        self.folder = Path(folder)
        self.settings = dict(settings or {})
        self.history = list(history or [])
        self.journal = None if journal is None else Path(journal)

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.history.append({"epoch": epoch + 1, **logs})
        if self.journal is not None:
            with open(self.journal, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"epoch": epoch + 1, "pid": os.getpid(), **logs}) + "\n")
        self.save(epoch + 1)

    def save(self, epochs_done):
        state = {"epoch": int(epochs_done),
                 "iterations": int(self.model.optimizer.iterations.numpy()),
                 "seed_states": seed_states(self.model),
                 "settings": self.settings, "history": self.history}
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"epoch-{epochs_done:04d}"
        temporary = self.folder / f".partial-{epochs_done:04d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            temporary.mkdir()
            self.model.save(temporary / MODEL)
            write_text_atomic(temporary / STATE, json.dumps(state, indent=1))
            if target.exists():  # this epoch was saved by a run that was killed later
                shutil.rmtree(target)
            os.rename(temporary, target)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        link = self.folder / f".last.partial-{os.getpid()}.keras"
        link.unlink(missing_ok=True)
        os.link(target / MODEL, link)
        os.replace(link, self.folder / "last.keras")
        for old in complete_checkpoints(self.folder)[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
        return target


def complete_checkpoints(folder):
    """The `epoch-NNNN` folders of `folder` that hold both files, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("epoch-*")
             if p.is_dir() and p.name[6:].isdigit()
             and (p / MODEL).is_file() and (p / STATE).is_file()]
    return sorted(found, key=lambda p: int(p.name[6:]))


def latest(folder, clean=True):
    """(model, state) of the newest complete checkpoint in `folder`, or None.

    Loads with `safe_mode=True`, restores the random generators, and (if
    `clean`: not for a reader that must not write, such as a non-chief worker)
    removes the `.partial-*` leftovers of a save that was killed.
    """
    folder = Path(folder)
    leftovers = ([*folder.glob(".partial-*"), *folder.glob(".last.partial-*")]
                 if clean and folder.is_dir() else [])
    for leftover in leftovers:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    found = complete_checkpoints(folder)
    if not found:
        return None
    state = json.loads((found[-1] / STATE).read_text(encoding="utf-8"))
    model = keras.saving.load_model(found[-1] / MODEL, safe_mode=True)
    restore_seed_states(model, state["seed_states"])
    return model, state
