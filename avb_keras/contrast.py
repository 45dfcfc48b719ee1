"""Adaptive Contrast: the Gaussian r(z|x) with the moments of q, and z~.

Plain AVB asks the adversary T(x, z) for log q(z|x) - log p(z), a large number
when q and the prior are far apart, which a classifier estimates poorly.
Adaptive Contrast (Mescheder et al. 2017, section 3.3) contrasts q with an
auxiliary Gaussian r(z|x) that has q's first two moments instead:

    r(z|x) = N(z; mu(x), Sigma(x))
    ELBO   = -KL(q(z|x), r(z|x)) + E_q[ -log r(z|x) + log p(z) + log p(x|z) ]

With the normalized latent z~ = L(x)^-1 (z - mu(x)), L L^T = Sigma,

    KL(q(z|x), r(z|x)) = KL(q~(z~|x), N(0, I))

(any invertible affine map leaves the KL unchanged), so the adversary separates
(x, z~) with z~ from the encoder from (x, z~) with z~ ~ N(0, I); at its optimum
T*(x, z~) = log q~(z~|x) - log N(z~; 0, I).

The paper takes Sigma diagonal, sigma = sqrt(var + 1e-4) (`covariance="diagonal"`);
`covariance="full"` (beyond the paper) keeps the correlations of q's
dimensions out of the adversary's task: Sigma + 1e-4 I, Cholesky factor L.
mu and Sigma are constants for the gradient (`tf.stop_gradient`). Without
Adaptive Contrast, r is the prior and everything reduces to AVB.
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

#: Added to the variance (the covariance's diagonal): sigma = sqrt(var + VARIANCE_FLOOR).
VARIANCE_FLOOR = 1e-4
#: The kinds of r(z|x): a diagonal or a full covariance.
COVARIANCES = ("diagonal", "full")


def check_covariance(covariance):
    """`covariance` if it is "diagonal" or "full", else a ValueError naming both."""
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be 'diagonal' or 'full'; got {covariance!r}.")
    return covariance


def kind(adaptive_contrast):
    """False, "diagonal" or "full" from a model's `adaptive_contrast` (True = "diagonal")."""
    if adaptive_contrast in (False, None):
        return False
    if adaptive_contrast is True:
        return "diagonal"
    if adaptive_contrast in COVARIANCES:
        return adaptive_contrast
    raise ValueError(f"adaptive_contrast must be True, False, 'diagonal' or 'full'; "
                     f"got {adaptive_contrast!r}.")


def auxiliary_gaussian(mean, variance):
    """r(z|x) = N(mean, diag(variance + floor)), with the moments held constant.

    Args:
      mean: [..., latent_dim] estimate of E_q[z | x].
      variance: [..., latent_dim] estimate of Var_q[z | x].

    Returns:
      A `tfd.Independent(tfd.Normal)` with one event dimension.
    """
    mean = tf.stop_gradient(mean)
    stddev = tf.sqrt(tf.stop_gradient(variance) + VARIANCE_FLOOR)
    return tfd.Independent(tfd.Normal(mean, stddev), 1)


def full_auxiliary_gaussian(mean, covariance):
    """r(z|x) = N(mean, covariance + floor * I), with the moments held constant.

    Args:
      mean: [..., latent_dim] estimate of E_q[z | x].
      covariance: [..., latent_dim, latent_dim] estimate of Cov_q[z | x].

    Returns:
      A `tfd.MultivariateNormalTriL` whose scale is the Cholesky factor L.
    """
    covariance = tf.stop_gradient(covariance)
    jitter = VARIANCE_FLOOR * tf.eye(tf.shape(covariance)[-1], dtype=covariance.dtype)
    scale_tril = tf.linalg.cholesky(covariance + jitter)
    return tfd.MultivariateNormalTriL(tf.stop_gradient(mean), scale_tril)


def gaussian(moments, covariance="diagonal"):
    """r(z|x) from a dict of moments: "mean" and "variance", or "covariance" when full."""
    if check_covariance(covariance) == "full":
        return full_auxiliary_gaussian(moments["mean"], moments["covariance"])
    return auxiliary_gaussian(moments["mean"], moments["variance"])


def monte_carlo_moments(samples, covariance="diagonal"):
    """Per-example moments of q from K samples shaped [K, batch, latent_dim].

    Returns {"mean", "variance"} over the K axis (the 1/K estimate), and with
    `covariance="full"` also "covariance" [batch, d, d]. With K <= d the
    sample covariance is singular; it is then shrunk toward its diagonal,

        Sigma = (1 - lambda) S + lambda diag(S),   lambda = max(0, (d + 1 - K) / d),

    so lambda = 0 once K >= d + 1 (S has full rank) and lambda -> 1 as K -> 1.
    """
    mean = tf.reduce_mean(samples, axis=0)
    centred = samples - mean
    moments = {"mean": mean, "variance": tf.reduce_mean(tf.square(centred), axis=0)}
    if check_covariance(covariance) == "full":
        k, d = samples.shape[0], samples.shape[-1]
        shrinkage = max(0.0, (d + 1 - k) / d)
        sample_covariance = tf.einsum("kbi,kbj->bij", centred, centred) / k
        moments["covariance"] = ((1.0 - shrinkage) * sample_covariance
                                 + shrinkage * tf.linalg.diag(moments["variance"]))
    return moments


def normalize(z, r):
    """z~ = L^-1 (z - mu): (z - mu) / sigma for a diagonal r, a triangular solve for a full one."""
    if isinstance(r, tfd.MultivariateNormalTriL):
        centred = (z - r.loc)[..., None]
        return tf.linalg.triangular_solve(r.scale.to_dense(), centred, lower=True)[..., 0]
    return (z - r.mean()) / r.stddev()
