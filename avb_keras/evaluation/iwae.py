"""The importance weighted bound (Burda, Grosse and Salakhutdinov, 2016).

For a model whose encoder has a density q(z|x) (the VAE),

    L_K(x) = E[ log (1/K) sum_{k=1..K} p(x, z_k) / q(z_k|x) ],   z_k ~ q(z|x),

    ELBO = L_1 <= L_K <= L_{K+1} <= log p(x),   L_K -> log p(x) as K -> infinity.

A single draw of the sum is returned per example, an unbiased estimate of
L_K. It cross-checks AIS: up to Monte Carlo error, AIS >= L_K. AVB's implicit
encoder has no density, so the bound is not defined for it (use AIS).
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from avb_keras.checks import positive_int
from avb_keras.evaluation.common import checked_images, log_joint, stateless_seed
from avb_keras.models.base import tile

#: Decoder rows per chunk of samples (bounds memory for large K).
CHUNK_ROWS = 2 ** 15


def iwae_bound(model, x, num_samples, seed=None):
    """Per-example estimates of the K-sample importance weighted bound (nats).

    Args:
      model: a model with `posterior(x)`, a tfp distribution q(z|x) (a VAE).
      x: a batch shaped [batch, *model.data_shape].
      num_samples: K, importance samples per example.
      seed: an int (or a stateless seed pair) for repeatable samples.

    Returns:
      A float64 numpy array of shape [batch].

    Raises:
      TypeError: the model's encoder has no density.
      ValueError: a bad batch or num_samples < 1.
    """
    num_samples = positive_int(num_samples, "num_samples")
    x = checked_images(model, x)
    q = model.posterior(x)  # a TypeError for an implicit encoder, which has no density
    chunk = max(1, min(num_samples, CHUNK_ROWS // int(x.shape[0])))
    seed = stateless_seed(seed)
    x_tiled = tile(x, chunk)
    log_sum = tf.fill([x.shape[0]], tf.constant(-np.inf, tf.float64))
    for start in range(0, num_samples, chunk):
        size = min(chunk, num_samples - start)
        sample_seed, seed = tfp.random.split_seed(seed)
        z = q.sample(size, seed=sample_seed)                       # [size, batch, latent]
        log_w = log_joint(model, x_tiled[:size * int(x.shape[0])], z) - q.log_prob(z)
        log_sum = tf.reduce_logsumexp(
            tf.concat([log_sum[None], tf.cast(log_w, tf.float64)], axis=0), axis=0)
    return (log_sum - np.log(num_samples)).numpy()
