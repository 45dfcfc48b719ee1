"""Local presets: a model's architecture and weights in a folder, in keras-hub's layout.

    model.save_to_preset("presets/my_avb")
    model = AVB.from_preset("presets/my_avb")                       # same weights
    bare = AVB.from_preset("presets/my_avb", load_weights=False)    # fresh weights

A preset folder holds

    config.json        the model's class and `get_config()` (Keras's serialization)
    model.weights.h5   the weights (`model.save_weights`; no optimizer state)
    metadata.json      the versions of avb_keras, keras, tensorflow and tensorflow-probability,
                       and the model card when one is given (pretrained presets have one)

and is written to a hidden folder beside the target, then renamed into place, so
a crash never leaves half a preset. It loads in the class that saved it (or from
a base class such as `LatentVariableModel`), from an avb_keras of the same major
version, with Keras's safe mode on.
"""

import json
import warnings
from pathlib import Path

from avb_keras import atomic

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"


def is_preset_dir(name):
    """Whether `name` names a local preset (an existing folder) rather than a named preset."""
    return isinstance(name, (str, Path)) and Path(name).is_dir()


def save_preset(model, preset_dir, model_card=None):
    """Writes `model`'s config, weights and library versions (and `model_card`, a dict,
    if given) to the folder `preset_dir` (replacing one there); returns its path."""
    import keras

    if not model.built:
        model.build()
    with atomic.atomic_path(preset_dir) as temporary:
        temporary.mkdir()
        (temporary / CONFIG_FILE).write_text(
            json.dumps(keras.saving.serialize_keras_object(model), indent=2))
        weights_only(model).save_weights(temporary / WEIGHTS_FILE)
        metadata = library_versions()
        if model_card is not None:
            metadata["model_card"] = model_card
        (temporary / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    return Path(preset_dir)


def weights_only(model):
    """`model`, or an uncompiled copy of it with the same weights if it has optimizers
    (Keras's `save_weights` also writes a compiled model's optimizer state: three to four
    times the weights, which a preset does not need)."""
    import keras

    if getattr(model, "optimizer", None) is None:
        return model
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # uncompiled: no optimizer state to write
    copy = keras.saving.deserialize_keras_object(config)
    copy.build()
    copy.set_weights(model.get_weights())
    return copy


def load_preset(cls, preset_dir, load_weights=True):
    """The model saved in `preset_dir`, an instance of `cls` (or a subclass).

    Raises:
      FileNotFoundError: a file of the preset is missing.
      ValueError: a damaged file, a preset from another major version of
        avb_keras, or a preset of a class that is not `cls`'s.
    """
    import keras

    preset_dir = Path(preset_dir)
    metadata = _read_json(preset_dir / METADATA_FILE)
    _check_version(metadata, preset_dir)
    config = _read_json(preset_dir / CONFIG_FILE)
    saved_class = keras.saving.get_registered_object(config.get("registered_name"))
    if saved_class is None or not issubclass(saved_class, cls):
        raise ValueError(f"The preset {preset_dir} holds a model of class "
                         f"{config.get('class_name')!r}, not {cls.__name__}; load it with that class "
                         "(or LatentVariableModel).")
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    model.build()
    if load_weights:
        _load_weights(model, preset_dir / WEIGHTS_FILE)
    return model


def model_card(preset_dir):
    """The model card stored in the preset's metadata.json (a dict; empty if it has none)."""
    return _read_json(Path(preset_dir) / METADATA_FILE).get("model_card", {})


def library_versions():
    """{library: version} of avb_keras and the libraries its models are built on."""
    import avb_keras  # the package imports this module; by now it is loaded
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    return {"avb_keras_version": avb_keras.__version__, "keras_version": keras.__version__,
            "tensorflow_version": tf.__version__,
            "tensorflow_probability_version": tfp.__version__}


def _check_version(metadata, preset_dir):
    """A preset from another major version of avb_keras may not load as saved: refuse it."""
    import avb_keras

    saved = str(metadata.get("avb_keras_version", "unknown"))
    if saved.split(".")[0] != avb_keras.__version__.split(".")[0]:
        raise ValueError(f"The preset {preset_dir} was saved by avb_keras {saved}, which is "
                         f"incompatible with this avb_keras {avb_keras.__version__} (another "
                         "major version); save it again with this version.")


def _read_json(path):
    if not path.is_file():
        raise FileNotFoundError(f"No {path.name} in the preset folder {path.parent}: "
                                "expected a folder written by model.save_to_preset.")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"The preset file {path} is damaged (not valid JSON): {error}.") from None


def _load_weights(model, path):
    if not path.is_file():
        raise FileNotFoundError(f"No {path.name} in the preset folder {path.parent}; "
                                "give load_weights=False for the architecture alone.")
    try:
        with warnings.catch_warnings():
            # A preset holds no optimizer state (`weights_only`): a compiled model's
            # optimizers start afresh, as Keras warns.
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            model.load_weights(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"The preset's weights file {path} is damaged or does not fit its "
                         f"config: {' '.join(str(error).split())}") from None
