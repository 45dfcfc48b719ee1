"""The prior p(z) of every latent-variable model here.

    p(z) = N(0, I_d)

One home for it: the models' ELBO, AIS, the export's metrics and the adversary's
contrast samples all ask for this distribution rather than building their own.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from avb_keras.checks import positive_int

tfd = tfp.distributions


def standard_normal(latent_dim, dtype="float32"):
    """N(0, I) over `latent_dim` dimensions: a distribution with event shape [latent_dim]."""
    zeros = tf.zeros([positive_int(latent_dim, "latent_dim")], dtype=dtype)
    return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), 1)
