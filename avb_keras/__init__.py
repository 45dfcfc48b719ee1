"""avb_keras: Adversarial Variational Bayes in Keras 3 on TensorFlow.

    import avb_keras
    data = avb_keras.datasets.load("mnist_small", batch_size=128)
    model = avb_keras.AVB.from_preset("mnist_mlp")
    model.compile()
    model.fit(data, epochs=10)
"""

import os

# Keras runs on TensorFlow here; tfp's distributions work inside Keras 3 models.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from avb_keras.native_logs import quiet_start_up  # noqa: E402  (loads no TensorFlow)

# The avb-keras command shows TensorFlow's start-up lines per TF_CPP_MIN_LOG_LEVEL.
with quiet_start_up():
    from avb_keras import (contrast, datasets, likelihoods, networks, optimizers,  # noqa: E402
                           presets, pretrained, priors, seeding)
    from avb_keras.presets import list_presets  # noqa: E402
    from avb_keras.models import AAE, AVB, VAE, AdversarialVI, LatentVariableModel  # noqa: E402

__version__ = "0.1.0"

__all__ = ["AAE", "AVB", "AdversarialVI", "VAE", "LatentVariableModel", "contrast", "datasets",
           "likelihoods", "list_presets", "networks", "optimizers", "presets", "pretrained", "priors",
           "seeding"]
