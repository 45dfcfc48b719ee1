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
#: K, the encoder draws per example behind `moment_matched_gaussian` when a caller
#: gives no `num_samples` (AIS's p0, the export's z_mean / z_std,
#: `evaluation.kl_lower_bound`); for the moment encoder, the fewest noise draws its
#: analytic moments rest on outside training.
MOMENT_SAMPLES = 256
#: K for Adaptive Contrast's Monte Carlo moments in a training step (a model's
#: `moment_samples`, which its preset may set).
TRAINING_MOMENT_SAMPLES = 16
#: K behind the moments and the KL bound that monitoring computes on a fixed batch
#: every few steps (`callbacks.TrainingMonitor`, `callbacks.KLBoundCheck`): fewer than
#: `MOMENT_SAMPLES`, since it runs during training.
MONITOR_MOMENT_SAMPLES = 64


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


def moments(samples, covariance="diagonal", reduce_sum=None):
    """The moments of q over axis 0 of `samples` [K, ..., latent_dim]: the one estimator.

    Every estimate of q's moments goes through here: Monte Carlo draws per
    example ([K, batch, d], `LatentVariableModel.moment_matched_gaussian`),
    the replicas' shares of a global batch of samples ([n_r, d], with
    `reduce_sum=distribute.replica_sum`; `distribute.global_moments`) and the
    noise draws of the moment encoder's bases ([batch, m, d],
    `networks.layers.MomentSampler`). With K draws z_k (summed over the
    replicas by `reduce_sum`, two passes for accuracy):

        mu = sum_k z_k / K,   sigma^2 = sum_k (z_k - mu)^2 / K
        S  = sum_k (z_k - mu)(z_k - mu)^T / K                       (covariance="full")

    With K <= d the sample covariance S is singular; it is then shrunk toward
    its diagonal,

        Sigma = (1 - lambda) S + lambda diag(S),   lambda = max(0, (d + 1 - K) / d),

    so lambda = 0 once K >= d + 1 (S has full rank) and lambda -> 1 as K -> 1.

    Args:
      samples: [K, ..., latent_dim] draws of q.
      covariance: "diagonal" or "full".
      reduce_sum: adds a sum over the other holders of the draws (the replicas);
        None for draws held here alone.

    Returns:
      {"mean", "variance"} shaped [..., latent_dim], and with `covariance="full"`
      "covariance" [..., latent_dim, latent_dim].
    """
    total = reduce_sum or (lambda value: value)
    k = total(tf.cast(tf.shape(samples)[0], samples.dtype))
    mean = total(tf.reduce_sum(samples, axis=0)) / k
    centred = samples - mean
    result = {"mean": mean, "variance": total(tf.reduce_sum(tf.square(centred), axis=0)) / k}
    if check_covariance(covariance) == "full":
        d = samples.shape[-1]
        shrinkage = tf.maximum(tf.zeros([], samples.dtype), (d + 1 - k) / d)
        sample_covariance = total(tf.einsum("k...i,k...j->...ij", centred, centred)) / k
        result["covariance"] = ((1.0 - shrinkage) * sample_covariance
                                + shrinkage * tf.linalg.diag(result["variance"]))
    return result


def normalize(z, r):
    """z~ = L^-1 (z - mu): (z - mu) / sigma for a diagonal r, a triangular solve for a full one."""
    if isinstance(r, tfd.MultivariateNormalTriL):
        centred = (z - r.loc)[..., None]
        return tf.linalg.triangular_solve(r.scale.to_dense(), centred, lower=True)[..., 0]
    return (z - r.mean()) / r.stddev()
