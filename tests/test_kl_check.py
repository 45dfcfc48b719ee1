"""KLBoundCheck warns, once, when an adversary's KL falls below the adversary-free bound."""

import warnings

import keras
import pytest
from conftest import binary_images, tiny_avb, tiny_vae

from avb_keras.callbacks import KLBoundCheck, KLBoundWarning


def test_a_frozen_adversary_is_caught_once_with_both_numbers():
    """Plain AVB whose T never learns (its rate is 0) while q is narrow (sd ~ 0.01): the
    KL is about -2 log 0.01 - 1 = 8 nats, T(x, z) only its prior term 1/2 ||z||^2 ~ 0."""
    model = tiny_avb(adaptive_contrast=False)
    z_layer = model.encoder.get_layer("z")
    z_layer.kernel.assign(0.01 * z_layer.kernel)
    model.compile(optimizer=keras.optimizers.SGD(0.0),
                  adversary_optimizer=keras.optimizers.SGD(0.0))
    check = KLBoundCheck(binary_images(32, seed=1))
    with pytest.warns(KLBoundWarning) as caught:
        model.fit(binary_images(32), batch_size=16, epochs=3, verbose=0, callbacks=[check])
    assert len(caught) == 1  # once, not every epoch
    (_, estimate, bound), message = check.history[0], str(caught[0].message)
    assert bound > estimate + 5
    assert f"{estimate:.2f}" in message and f"{bound:.2f}" in message
    assert "Adaptive Contrast" in message and len(check.history) == 3


def test_an_exact_kl_never_warns():
    model = tiny_vae()
    model.compile()
    check = KLBoundCheck(binary_images(32, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", KLBoundWarning)
        model.fit(binary_images(32), batch_size=16, epochs=2, verbose=0, callbacks=[check])
    # The VAE's KL is exact and its bound is that KL up to Monte Carlo error.
    for _, estimate, bound in check.history:
        assert abs(estimate - bound) < 0.3
