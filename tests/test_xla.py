"""XLA: `jit_compile=True` trains every model as the plain TensorFlow graph does."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import random as tf_random
from conftest import binary_images, tiny_aae, tiny_avb, tiny_vae
from test_mixed_precision import tiny_adversarial_vi

MODELS = {"vae": tiny_vae, "avb": tiny_avb, "avb_moment": lambda: tiny_avb(encoder_type="moment"),
          "aae": tiny_aae,
          "adversarial_vi": tiny_adversarial_vi}


@pytest.fixture
def same_noise(monkeypatch):
    """Replaces Keras's normal draws by a fixed function of shape and seed.

    TensorFlow's stateless generators draw other numbers inside XLA than outside
    (seeded and repeatable each, but not the same, even with alg="philox" when the
    seed comes from a `SeedGenerator`), so the two steps are compared on the same
    stand-in noise: sqrt(2) sin(i * 0.7 + 1.3 s_0 + 0.9 s_1), mean 0, variance 1.
    """
    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        s = tf.cast(tf_random._cast_seed(tf_random.draw_seed(seed)), "float32")
        i = tf.cast(tf.range(tf.reduce_prod(shape)), "float32")
        eps = tf.reshape(np.sqrt(2.0) * tf.sin(i * 0.7 + 1.3 * s[0] + 0.9 * s[1]), shape)
        return tf.cast(mean + stddev * eps, dtype or "float32")
    monkeypatch.setattr(tf_random, "normal", normal)


def trained(make, jit_compile, steps=3):
    """Weight updates and first-step metrics of a fresh model (fixed seeds) after `steps`
    SGD steps (Adam would turn round-off in near-zero gradients into full-size steps)."""
    keras.utils.set_random_seed(1234)
    model = make()
    sgd = {name: keras.optimizers.SGD(0.05) for name in model.optimizer_names}
    model.compile(**sgd, jit_compile=jit_compile)
    assert model.jit_compile is jit_compile
    before = [np.asarray(v) for v in model.trainable_weights]
    for step in range(steps):
        x = (np.zeros(16, "float32") if make is tiny_adversarial_vi
             else binary_images(16, seed=step))
        logs = model.train_on_batch(x, return_dict=True)
        if step == 0:
            first = {k: float(v) for k, v in logs.items()}
    return [np.asarray(v) - b for v, b in zip(model.trainable_weights, before)], first


@pytest.mark.parametrize("name", sorted(MODELS))
def test_xla_gives_the_same_training_steps(name, same_noise):
    updates, logs = trained(MODELS[name], jit_compile=False)
    xla_updates, xla_logs = trained(MODELS[name], jit_compile=True)
    # Same noise, same math: XLA only fuses and reorders
    # float32 arithmetic, so the first step's metrics agree to 1e-5 relative, and the
    # summed updates of 3 steps to 1e-3 of the largest update (float32 round-off,
    # amplified a little by the steps in between). tests/tolerance_measurements.py xla,
    # these 5 models at this seed and two others: metrics at most 4.1e-7 relative apart,
    # updates at most 9.0e-5 of the largest (the moment encoder; the others 1e-6).
    for key in logs:
        np.testing.assert_allclose(xla_logs[key], logs[key], rtol=1e-5, err_msg=key)
    assert len(updates) == len(xla_updates)
    largest = max(np.abs(u).max() for u in updates)
    assert largest > 0
    for a, b in zip(updates, xla_updates):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-3 * largest)
