"""Two replicas under MirroredStrategy update the weights as one device does.

Keras sums gradients over replicas, so each replica's loss must be divided by
their number. The models draw their noise from a mirrored seed state, so the two
replicas draw the same noise for their halves of a batch. With the global batch
[x; x] each replica therefore sees x with the same noise as one device on x, and
the gradient of the global-batch mean equals the one-device gradient on x.
Plain SGD keeps the check sharp: a missing 1/replicas factor doubles the step
(Adam would hide it, being invariant to the gradient's scale).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, tiny_avb, tiny_vae


@pytest.fixture(scope="module")
def mirrored():
    # One strategy for the whole module: a second MirroredStrategy in the same
    # process reuses collective instance keys and its all-reduces collide.
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def one_step(make, strategy, x):
    keras.utils.set_random_seed(7)
    with strategy.scope():
        model = make()
        kwargs = {"adversary_optimizer": keras.optimizers.SGD(0.5)} if hasattr(
            model, "adversary") else {}
        model.compile(optimizer=keras.optimizers.SGD(0.5), **kwargs)
        initial = [v.numpy().copy() for v in model.trainable_variables]
        history = model.fit(x, batch_size=len(x), epochs=1, verbose=0, shuffle=False).history
    return initial, [v.numpy() for v in model.trainable_variables], history


@pytest.mark.parametrize("make", [tiny_avb, lambda: tiny_avb(encoder_type="moment"),
                                  lambda: tiny_avb(adaptive_contrast=False), tiny_vae])
def test_two_replicas_match_one_device(make, mirrored):
    assert len(tf.config.list_logical_devices("CPU")) >= 2
    x = binary_images(16)
    init_1, one, history_1 = one_step(make, tf.distribute.OneDeviceStrategy("/cpu:0"), x)
    init_2, two, history_2 = one_step(make, mirrored,
                                      np.concatenate([x, x]))
    for a, b in zip(init_1, init_2):
        np.testing.assert_array_equal(a, b)  # same start
    moved = max(np.abs(a - b).max() for a, b in zip(init_1, one))
    assert moved > 1e-3  # the step did something
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for name in history_1:  # the reported metrics are unscaled
        np.testing.assert_allclose(history_1[name], history_2[name], rtol=1e-4, atol=1e-5)
