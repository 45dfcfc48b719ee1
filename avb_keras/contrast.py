"""Adaptive Contrast: the math shared by every model that uses it.

Plain AVB asks the adversary T(x, z) for log q(z|x) - log p(z), a large number
when q and the prior are far apart, which a classifier estimates poorly.
Adaptive Contrast (Mescheder et al. 2017, section 3.3) contrasts q with an
auxiliary Gaussian r(z|x) that has q's first two moments instead:

    r(z|x) = N(z; mu(x), diag(sigma(x)^2))
    ELBO   = -KL(q(z|x), r(z|x)) + E_q[ -log r(z|x) + log p(z) + log p(x|z) ]

With the normalized latent z~ = (z - mu(x)) / sigma(x),

    KL(q(z|x), r(z|x)) = KL(q~(z~|x), N(0, I)),

so the adversary separates (x, z~) with z~ from the encoder from (x, z~) with
z~ ~ N(0, I), and at its optimum T*(x, z~) = log q~(z~|x) - log N(z~; 0, I).
mu and sigma are constants for the gradient (`tf.stop_gradient`), and sigma is
floored as sqrt(var + 1e-4), as in the authors' code. Without Adaptive
Contrast, r is the prior (mu = 0, sigma = 1) and everything reduces to AVB.
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

#: Added to the variance before the square root: sigma = sqrt(var + VARIANCE_FLOOR).
VARIANCE_FLOOR = 1e-4


def standard_normal(latent_dim, dtype="float32"):
    """N(0, I) over `latent_dim` dimensions, the prior p(z) of every model."""
    zeros = tf.zeros([latent_dim], dtype=dtype)
    return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), 1)


def auxiliary_gaussian(mean, variance):
    """r(z|x) = N(mean, variance + floor), with the moments held constant.

    Args:
      mean: [..., latent_dim] estimate of E_q[z | x].
      variance: [..., latent_dim] estimate of Var_q[z | x].

    Returns:
      A `tfd.Independent(tfd.Normal)` with one event dimension.
    """
    mean = tf.stop_gradient(mean)
    stddev = tf.sqrt(tf.stop_gradient(variance) + VARIANCE_FLOOR)
    return tfd.Independent(tfd.Normal(mean, stddev), 1)


def monte_carlo_moments(samples):
    """Per-example moments of q from K samples, shaped [K, batch, latent_dim].

    Works for any black-box sampler; returns (mean, variance) over the K axis.
    """
    mean = tf.reduce_mean(samples, axis=0)
    variance = tf.reduce_mean(tf.square(samples - mean), axis=0)
    return mean, variance


def normalize(z, contrast):
    """z~ = (z - mu(x)) / sigma(x) for the contrast distribution r(z|x)."""
    return (z - contrast.mean()) / contrast.stddev()
