"""Resumable runs: a whole checkpoint after every epoch, and the newest one to resume from.

`TrainingCheckpoint` writes each checkpoint folder (model with every player's
optimizer, random generator states, data position) under a temporary name and
renames it into place (`avb_keras.atomic`), so a crash never leaves half a
checkpoint; `latest` loads the newest complete one.
"""

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from avb_keras import atomic, saving
from avb_keras.seeding import seed_state_variables

#: Complete checkpoints kept in a run's checkpoints/ folder (older ones are deleted). One
#: is enough: a new one is complete (renamed into place) before the old one goes.
KEEP = 1
STATE = "state.json"
MODEL = "model.keras"


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
    every epoch so far). The folder is written under a temporary name and
    renamed (`atomic.atomic_path`), so a checkpoint either exists whole or not at all; then
    `FOLDER/last.keras` is pointed at the new model (a hard link, renamed into
    place: no second copy) and all but the newest `KEEP` (one) checkpoints are deleted.

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
        target = self.folder / f"epoch-{epochs_done:04d}"
        # (An existing folder of this epoch was saved by a run that was killed later.)
        with atomic.atomic_path(target) as temporary:
            temporary.mkdir()
            self.model.save(temporary / MODEL)
            atomic.write_text(temporary / STATE, json.dumps(state, indent=1))
        link(target / MODEL, self.folder / "last.keras")
        for old in complete_checkpoints(self.folder)[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
        return target


def link(source, target):
    """Makes `target` a hard link to the file `source` (no copy: one file, two names),
    replacing any `target` atomically; returns `target`."""
    with atomic.atomic_path(target) as temporary:
        os.link(source, temporary)
    return Path(target)


def model_file(folder, epochs_done):
    """The model file of the complete checkpoint after epoch `epochs_done`, or None."""
    found = [p for p in complete_checkpoints(folder) if p.name == f"epoch-{epochs_done:04d}"]
    return found[0] / MODEL if found else None


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

    Loads with `saving.load_model` (safe mode; a damaged file is named as
    such), restores the random generators, and (if `clean`: not for a reader
    that must not write, such as a non-chief worker) removes the temporaries
    of a save that was killed (`atomic.leftovers`).
    """
    if clean:
        atomic.remove_leftovers(folder)
    found = complete_checkpoints(folder)
    if not found:
        return None
    state = json.loads((found[-1] / STATE).read_text(encoding="utf-8"))
    try:
        model = saving.load_model(found[-1] / MODEL)
    except saving.DamagedModelFile as error:  # written whole, so damaged on disk since
        if len(found) < 2:
            raise
        raise saving.DamagedModelFile(f"{error} Delete {found[-1]} to resume from "
                                      f"{found[-2].name}.") from error
    restore_seed_states(model, state["seed_states"])
    return model, state
