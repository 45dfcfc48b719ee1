"""The Bernoulli likelihood's log_prob is tfd.Bernoulli's, value and gradient."""

import numpy as np
import pytest
import tensorflow as tf

from avb_keras import likelihoods


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "grey_levels"])
def test_bernoulli_log_prob_is_the_distributions(binary):
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(0.0, 6.0, (3, 5, 4, 4, 1)).astype("float32"))
    x = rng.random((5, 4, 4, 1)).astype("float32")  # broadcast over the sample axis
    if binary:
        x = (x > 0.5).astype("float32")
    likelihood = likelihoods.Bernoulli()
    likelihood.build((None, 4, 4, 1))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        ours = likelihood.log_prob(x, logits)
        theirs = likelihood.distribution(logits).log_prob(x)
    assert ours.shape == theirs.shape == (3, 5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(tape.gradient(ours, logits), tape.gradient(theirs, logits),
                               rtol=1e-5, atol=1e-6)
