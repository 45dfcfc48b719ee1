"""An adversary-free lower bound on KL(q(z|x) || p(z)), to check an adversary's estimate.

For any density r, KL(q || p) = KL(q || r) + E_q[log r - log p], and KL(q || r) >= 0:

    KL(q(z|x) || p(z))  >=  E_q[ log r(z|x) - log p(z) ]

With r the full-covariance Gaussian fitted to K draws of q(z|x)
(`model.moment_matched_gaussian(x, "full", K)`) and the expectation taken over
K *other* draws, the estimate's expectation is a lower bound for any K: r is
then a fixed density given its own draws, and the inequality holds for each
such r. (Evaluated on the draws it was fitted on, r would be favoured, and the
bound could exceed the KL.) It is tight when q(z|x) is Gaussian; for the VAE
(r = q exactly) it is the exact KL, up to the Monte Carlo error of its mean.

So an adversarial KL estimate below the bound is wrong by at least the
difference, and -(reconstruction + bound) is an upper bound on the ELBO
(README.md, "checks an adversary without trusting it"; `callbacks.KLBoundCheck`).
"""

import dataclasses

import numpy as np
import tensorflow as tf

from avb_keras import seeding
from avb_keras.checks import positive_int
# K, the draws that fit r and, again, the draws that evaluate it.
from avb_keras.contrast import MOMENT_SAMPLES as NUM_SAMPLES
from avb_keras.evaluation.common import checked_images
from avb_keras.models.base import tile

#: Encoder rows (K draws of each example) per chunk of examples: bounds the memory. All
#: 500 MNIST examples at once peaked at about 22 GB for the mnist_mlp moment encoder.
CHUNK_ROWS = 2 ** 13


@dataclasses.dataclass(frozen=True)
class KLBound:
    """Per-example lower bounds on KL(q(z|x) || p(z)) in nats.

    Attributes:
      kl_lower_bound: [batch] the bound, E_q[log r - log p] over the evaluation draws.
      standard_error: [batch] its Monte Carlo standard error (sd over the draws / sqrt(K)).
    """

    kl_lower_bound: np.ndarray
    standard_error: np.ndarray


def kl_lower_bound(model, x, num_samples=NUM_SAMPLES, seed=None):
    """Per-example E_q[log r_full(z|x) - log p(z)] <= KL(q(z|x) || p(z)); see the module.

    Args:
      model: an avb_keras model with an encoder (VAE, AVB, AAE).
      x: a batch of examples [batch, *model.data_shape].
      num_samples: K, encoder draws that fit r, and K others that evaluate it.
      seed: an int for repeatable draws (the model's own streams are left alone).

    Returns:
      A `KLBound` of numpy arrays shaped [batch].
    """
    num_samples = positive_int(num_samples, "num_samples")
    x = checked_images(model, x)
    size = max(1, CHUNK_ROWS // num_samples)  # examples per chunk
    with seeding.seeded(model, seed):
        terms = [chunk_terms(model, x[i:i + size], num_samples)
                 for i in range(0, int(x.shape[0]), size)]
    terms = tf.concat(terms, axis=1)                                  # [K, batch]
    return KLBound(kl_lower_bound=tf.reduce_mean(terms, axis=0).numpy(),
                   standard_error=(tf.math.reduce_std(terms, axis=0)
                                   / np.sqrt(num_samples)).numpy())


def chunk_terms(model, x, num_samples):
    """log r(z|x) - log p(z) for a chunk of examples, r fitted on K draws and evaluated
    on K others: [K, chunk]."""
    r = model.moment_matched_gaussian(x, "full", num_samples)
    return bound_terms(model, x, r, num_samples)


def bound_terms(model, x, r, num_samples):
    """log r(z|x) - log p(z) at K fresh draws z ~ q(z|x): [K, batch] (graph-safe)."""
    z = tf.reshape(model.encode(tile(x, num_samples)),
                   [num_samples, -1, model.latent_dim])
    return r.log_prob(z) - model.prior.log_prob(z)
