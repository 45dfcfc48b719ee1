"""avb_keras: Adversarial Variational Bayes (Mescheder, Nowozin and Geiger, ICML 2017) in
Keras 3 on TensorFlow.

    import avb_keras
    data = avb_keras.datasets.load("mnist_small", batch_size=128)
    model = avb_keras.AVB.from_preset("mnist_mlp")
    model.compile()
    model.fit(data, epochs=10)
    model = avb_keras.load_model("runs/demo/model.keras")   # a damaged file is named as such

In a program, `import avb_keras` imports the models (registering their classes
with Keras's serialization, so that `keras.saving.load_model` finds them). In the
`avb-keras` command (`native_logs.is_command_line`) the names below are imported on
first use instead (PEP 562), so that `--help`, `presets` and a mistyped option
answer before TensorFlow loads.
"""

import importlib
import os

from avb_keras.native_logs import is_command_line

# Keras runs on TensorFlow here; tfp's distributions work inside Keras 3 models.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

#: Submodules reached as attributes (`avb_keras.datasets`).
_SUBMODULES = ("contrast", "datasets", "likelihoods", "networks", "optimizers", "presets",
               "pretrained", "priors", "seeding", "saving")
#: Names defined in a submodule -> that submodule.
_NAMES = {"AAE": "models", "AVB": "models", "VAE": "models", "AdversarialVI": "models",
          "LatentVariableModel": "models", "list_presets": "presets",
          "load_model": "saving", "DamagedModelFile": "saving"}

__all__ = sorted([*_SUBMODULES, *_NAMES])


def __getattr__(name):
    """Imports `avb_keras.NAME` (or the submodule defining NAME) on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        _models()  # the model classes registered before any model file is read
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _models():
    return importlib.import_module(f"{__name__}.models")


if not is_command_line():
    _models()
