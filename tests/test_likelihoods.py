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
    x = tf.constant(x)
    upstream = tf.constant(rng.normal(size=(3, 5)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([logits, x])
        ours = likelihood.log_prob(x, logits)
        theirs = likelihood.distribution(logits).log_prob(x)
    assert ours.shape == theirs.shape == (3, 5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-4)
    for wrt in (logits, x):  # x's gradient summed over the sample axis it was broadcast on
        ours_grad = tape.gradient(ours, wrt, output_gradients=upstream)
        theirs_grad = tape.gradient(theirs, wrt, output_gradients=upstream)
        assert ours_grad.shape == wrt.shape
        np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-5, atol=1e-5)


def test_bernoulli_log_prob_has_second_derivatives():
    """d^2/dl^2 [x l - softplus(l)] = -sigmoid(l) (1 - sigmoid(l))."""
    likelihood = likelihoods.Bernoulli()
    likelihood.build((None, 3))
    logits = tf.constant([[0.5, -1.0, 2.0]])
    with tf.GradientTape() as outer:
        outer.watch(logits)
        with tf.GradientTape() as inner:
            inner.watch(logits)
            value = likelihood.log_prob(tf.constant([[1.0, 0.0, 1.0]]), logits)
        first = inner.gradient(value, logits)
    p = tf.sigmoid(logits)
    np.testing.assert_allclose(outer.gradient(first, logits), -p * (1 - p), rtol=1e-6)
