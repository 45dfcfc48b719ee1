"""What the log-likelihood estimators share: checked inputs and the joint density.

    log p(x, z) = log p(z) + log p(x|z)

evaluated for a batch of examples x [batch, ...] and latents z [samples, batch,
latent_dim], with the decoder called once on all samples * batch rows.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp


def checked_images(model, x):
    """`x` as a float tensor shaped [batch, *model.data_shape], or a clear error.

    Arrays are also checked for values outside the likelihood's support (the
    same checks as `fit`); a batch must hold at least one example.
    """
    if isinstance(x, (np.ndarray, list)):
        x = model.checked(np.asarray(x))  # shape, dtype and values, as in fit
    x = model.images(x)
    if x.shape[0] == 0:
        raise ValueError(f"x is an empty batch: expected at least one example shaped "
                         f"{list(model.data_shape)}.")
    return x


def log_joint(model, x_tiled, z):
    """log p(z) + log p(x|z) for z [samples, batch, latent_dim]; returns [samples, batch].

    Args:
      model: an avb_keras model (`prior`, `log_likelihood`).
      x_tiled: the batch tiled `samples` times, `models.base.tile(x, samples)`.
      z: latents, one row per (sample, example).
    """
    shape = tf.shape(z)
    flat = tf.reshape(z, [-1, model.latent_dim])
    log_px_z = tf.reshape(model.log_likelihood(x_tiled, flat), shape[:-1])
    return model.prior.log_prob(z) + log_px_z


def stateless_seed(seed):
    """A stateless seed pair: random for None, [seed, 0] for an int, else the pair given.

    An int goes into the pair directly: tfp would turn it into a pair with a stateful
    sampler, so two calls with the same int would not repeat.
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return tf.constant([int(seed) % 2 ** 31, 0], tf.int32)
    return tfp.random.sanitize_seed(seed)
