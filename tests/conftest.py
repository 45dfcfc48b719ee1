"""Shared test set-up: quiet TensorFlow, two logical CPUs, tiny models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so MirroredStrategy can run two replicas on one CPU.
# This must happen before TensorFlow initialises its devices.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from avb_keras import AAE, AVB, VAE, networks  # noqa: E402

#: The full MNIST, for slow tests; tests that need it skip when it is absent.
MNIST_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist.npz"

TINY_SHAPE = (4, 4, 1)


def tiny_avb(latent_dim=2, encoder_type="implicit", seed=0, adversary=None, **kwargs):
    """An AVB on 4x4 images with a few units per layer (fast to build and train)."""
    if encoder_type == "moment":
        encoder = networks.moment_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,),
                                          num_basis=3, basis_units=(4,), seed=seed)
    else:
        encoder = networks.implicit_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,),
                                            noise_dim=4, seed=seed)
    decoder = networks.mlp_decoder(latent_dim, TINY_SHAPE, hidden_units=(8,))
    adversary = adversary or networks.InnerProductAdversary(hidden_units=(8,), inner_dim=4)
    kwargs.setdefault("moment_samples", 4)
    return AVB(encoder, decoder, adversary, seed=seed, **kwargs)


def tiny_vae(latent_dim=2, seed=0, **kwargs):
    encoder = networks.gaussian_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,))
    decoder = networks.mlp_decoder(latent_dim, TINY_SHAPE, hidden_units=(8,))
    return VAE(encoder, decoder, seed=seed, **kwargs)


def tiny_aae(latent_dim=2, seed=0, **kwargs):
    """An adversarial autoencoder on 4x4 images (discriminator on z alone)."""
    encoder = networks.implicit_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,), noise_dim=4,
                                        seed=seed)
    decoder = networks.mlp_decoder(latent_dim, TINY_SHAPE, hidden_units=(8,))
    return AAE(encoder, decoder, networks.LatentAdversary(hidden_units=(8,)), seed=seed,
               **kwargs)


def clipped_sgd_steps(model, clipnorm=1e-3, learning_rate=100.0):
    """Compiles `model` with SGD(learning_rate) for every player, clipped to `clipnorm`,
    fits one batch, and returns {player: the largest distance a variable moved}.

    Each variable moves by learning_rate * its clipped gradient, so at most
    learning_rate * clipnorm.
    """
    model.compile(optimizer=keras.optimizers.SGD(learning_rate),
                  adversary_optimizer=keras.optimizers.SGD(learning_rate), clipnorm=clipnorm)
    before = {name: [np.asarray(v) for v in variables]
              for name, variables in model.player_variables.items()}
    model.fit(binary_images(16), batch_size=16, epochs=1, verbose=0)
    return {name: max(np.linalg.norm(np.asarray(v) - b) for v, b in zip(variables, before[name]))
            for name, variables in model.player_variables.items()}


def binary_images(n, shape=TINY_SHAPE, seed=0):
    return (np.random.default_rng(seed).random((n,) + shape) > 0.5).astype("float32")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    yield
