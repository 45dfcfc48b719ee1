"""Pretrained presets: trained models that `from_preset(NAME)` loads with their weights.

    model = avb_keras.AVB.from_preset("mnist_avb_ac_z32")                      # trained
    bare = avb_keras.AVB.from_preset("mnist_avb_ac_z32", load_weights=False)   # untrained
    avb_keras.list_presets()            # architectures and pretrained models, described

A pretrained preset is a local preset folder (`avb_keras.preset_files`: config.json,
model.weights.h5, metadata.json) whose metadata.json also holds the model card under
"model_card": its one-line description, the data it was trained on, the training
budget and its test metric. They are built by `scripts/build_saved_models.py`
beside the zoo's SavedModels and found, in this order:

1. the folder named by the environment variable `AVB_KERAS_PRESETS` (a mirror, or
   presets of your own);
2. `avb_keras/pretrained_presets/` inside an installed wheel: the wheel carries the
   repository's `saved_models/presets/` as package data (setup.py);
3. `saved_models/presets/` of the source checkout the package is imported from
   (a clone, or an editable install).

Nothing is downloaded: the weights ship with the package.
"""

import json
import os
from pathlib import Path

from avb_keras import preset_files

#: The environment variable that points at another folder of pretrained presets.
ENVIRONMENT_VARIABLE = "AVB_KERAS_PRESETS"
_PACKAGE = Path(__file__).resolve().parent


def location():
    """The folder of pretrained presets (see the module docstring), or None if there is none."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    if override:
        if not Path(override).is_dir():
            raise FileNotFoundError(f"{ENVIRONMENT_VARIABLE}={override} is not a folder; set it "
                                    "to a folder of preset folders or unset it.")
        return Path(override)
    for candidate in (_PACKAGE / "pretrained_presets", _PACKAGE.parent / "saved_models" / "presets"):
        if candidate.is_dir():
            return candidate
    return None


def names():
    """The names of the pretrained presets, sorted."""
    folder = location()
    if folder is None:
        return []
    return sorted(p.name for p in folder.iterdir() if (p / preset_files.METADATA_FILE).is_file())


def path(name):
    """The folder of the pretrained preset `name`, or None if there is no such preset."""
    return location() / name if name in names() else None


def card(name):
    """The model card stored with the pretrained preset `name` (a dict)."""
    return preset_files.model_card(path(name))


def describe(name):
    """{model, description, data, test_metric, size_bytes} of the pretrained preset `name`."""
    info = card(name)
    folder = path(name)
    config = json.loads((folder / preset_files.CONFIG_FILE).read_text())
    return {"kind": "pretrained", "model": config.get("class_name"),
            "latent_dim": info.get("latent_dim"),
            "description": info.get("description", ""), "data": info.get("data", ""),
            "test_metric": info.get("test_metric"),
            "size_bytes": sum(p.stat().st_size for p in folder.iterdir() if p.is_file())}
