"""`.keras` model files: saved atomically, loaded in safe mode with a clear word on damage.

    save_model(model, "runs/demo/model.keras")   # a crash mid-save keeps the old file
    model = load_model("runs/demo/model.keras")
    model, summary = load_run("runs/demo")     # a run folder, or a .keras file

A `.keras` file is a zip archive (config.json, metadata.json, model.weights.h5).
Keras reports a truncated one as "File not found" although it exists;
`load_model` checks the archive first and names the problem instead. Every
place in avb_keras that loads a model file goes through it.
"""

import json
import zipfile
from pathlib import Path

import keras

from avb_keras.atomic import atomic_path

SUFFIX = ".keras"
#: The members every `.keras` archive holds.
MEMBERS = ("config.json", "model.weights.h5")


class DamagedModelFile(ValueError):
    """A `.keras` file that exists but is not a complete archive."""


def save_model(model, path):
    """Saves `model` to `path` (a `.keras` file) atomically; returns the path."""
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"Model files end in '{SUFFIX}'; got {str(path)!r}.")
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


def load_model(path):
    """The model in the `.keras` file `path`, loaded with `safe_mode=True`.

    Raises:
      FileNotFoundError: there is no file at `path`.
      ValueError: `path` is not a `.keras` file.
      DamagedModelFile (a ValueError): the file is damaged or truncated (not a
        complete `.keras` archive).
    """
    import avb_keras.models  # noqa: F401  (registers the model classes with Keras)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model at {path}: expected a .keras file saved by avb_keras "
                                "(a run folder of `avb-keras train` holds it as model.keras).")
    if path.suffix != SUFFIX:
        raise ValueError(f"Expected a .keras model file; got {str(path)!r}.")
    check_archive(path)
    return keras.saving.load_model(path, safe_mode=True)


def load_run(path):
    """(model, run summary or None) from a `.keras` file, an `avb-keras train` run folder,
    a preset folder (`save_to_preset`) or a pretrained preset's name.

    A run folder holds `model.keras` and `metrics.json` (its data, budget, test
    metrics and command: the summary); a bare `.keras` file has no summary; a
    preset's summary is its model card's `evaluate_on` (the data set, batch size
    and seed its test metric was measured with), if it has one.

    Raises:
      FileNotFoundError, ValueError, DamagedModelFile: as `load_model` and
        `from_preset`.
    """
    from avb_keras import pretrained, preset_files

    path = Path(path)
    folder = (path if (path / preset_files.CONFIG_FILE).is_file()
              else None if path.exists() else pretrained.path(str(path)))
    if folder is not None:
        from avb_keras.models import LatentVariableModel

        return (LatentVariableModel.from_preset(folder),
                preset_files.model_card(folder).get("evaluate_on"))
    summary = None
    if path.is_dir():
        if (path / "metrics.json").is_file():
            summary = json.loads((path / "metrics.json").read_text())
        path = path / "model.keras"
    return load_model(path), summary


def check_archive(path):
    """Raises `DamagedModelFile` unless `path` is a complete `.keras` zip archive (CRCs checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [name for name in MEMBERS if name not in archive.namelist()]
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise _damaged(path, error) from error
    if missing or broken:
        raise _damaged(path, f"missing {missing}" if missing else f"bad CRC in {broken}")


def _damaged(path, cause):
    return DamagedModelFile(f"The model file {path} is damaged or truncated (not a complete "
                            f".keras archive): {str(cause).rstrip('.')}.")
