"""The fused Adam is Keras's Adam: same updates, same state, under the same wrappers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, tiny_vae

from avb_keras import distribute, optimizers
from avb_keras.models.players import unscaled_optimizer

SHAPES = [(6, 5), (5,), (3, 2, 4)]


def run(make_optimizer, steps=5, seed=0):
    """(variables, optimizer) after `steps` updates with fixed random gradients."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s).astype("float32") for s in SHAPES]
    grads = [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(steps)]
    variables = [keras.Variable(v) for v in start]
    optimizer = make_optimizer()
    step = tf.function(lambda g: optimizer.apply(g, variables))
    for g in grads:
        step([tf.constant(t) for t in g])
    return [np.asarray(v) for v in variables], optimizer


@pytest.mark.parametrize("kwargs", [
    {"learning_rate": 1e-2, "beta_1": 0.5},
    {"learning_rate": keras.optimizers.schedules.ExponentialDecay(1e-2, 2, 0.5)},
    {"learning_rate": 1e-2, "clipnorm": 0.1, "weight_decay": 0.1},
    {"learning_rate": 1e-2, "amsgrad": True},
])
def test_fused_adam_updates_as_keras_adam(kwargs):
    ours, fused = run(lambda: optimizers.Adam(**kwargs))
    theirs, plain = run(lambda: keras.optimizers.Adam(**kwargs))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(fused.variables, plain.variables):  # iterations, m, v
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_fused_adam_under_loss_scaling():
    """(A LossScaleOptimizer unscales the given gradients: both runs see the same.)"""
    scaled = keras.optimizers.LossScaleOptimizer
    ours, _ = run(lambda: scaled(optimizers.Adam(1e-2)))
    theirs, _ = run(lambda: scaled(keras.optimizers.Adam(1e-2)))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fused_adam_trains_two_replicas_as_keras_adam():
    strategy = distribute.make_strategy("mirrored")  # the two logical CPUs of conftest
    assert strategy.num_replicas_in_sync == 2
    x = binary_images(16)
    trained = []
    for adam in (optimizers.Adam, keras.optimizers.Adam):
        keras.utils.set_random_seed(7)
        with strategy.scope():
            model = tiny_vae()
            model.compile(optimizer=adam(1e-2))
            model.fit(x, batch_size=8, epochs=2, verbose=0, shuffle=False)
        trained.append([np.asarray(v) for v in model.trainable_variables])
    for a, b in zip(*trained):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fused_adam_round_trips_through_its_config():
    optimizer = optimizers.Adam(3e-4, beta_1=0.5)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is optimizers.Adam
    assert unscaled_optimizer(again).get_config() == optimizer.get_config()
