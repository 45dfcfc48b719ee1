"""Exact log-likelihood of a 2-d latent model by quadrature over a grid.

    log p(x) = log int p(x|z) p(z) dz
             ~ logsumexp_g [ log p(x|z_g) + log p(z_g) ] + log(dz_1 dz_2)

on a midpoint grid over [-bound, bound]^2. With bound = 6 the prior mass left
outside is below 1e-8, and since p(x|z) <= 1 for binary data the truncation
error is below that too; the grid error shrinks with the cell size.
"""

import numpy as np
import tensorflow as tf

from avb_keras.checks import positive_int


def latent_grid(grid_size=400, bound=6.0):
    """Midpoints of a grid_size x grid_size grid over [-bound, bound]^2, and the cell area."""
    grid_size = positive_int(grid_size, "grid_size")
    step = 2.0 * bound / grid_size
    ticks = -bound + step * (np.arange(grid_size) + 0.5)
    z1, z2 = np.meshgrid(ticks, ticks, indexing="ij")
    return np.stack([z1.ravel(), z2.ravel()], axis=-1).astype("float32"), step * step


def quadrature_log_likelihood(model, x, grid_size=400, bound=6.0, chunk=20000):
    """log p(x) in nats for each example of `x`, for a model with a 2-d latent.

    Args:
      model: an avb_keras model (uses `decoder`, `likelihood` and `prior`).
      x: a batch of examples shaped like the model's data.
      grid_size: grid points per latent axis.
      bound: the grid covers [-bound, bound]^2.
      chunk: grid points decoded at once (bounds memory).

    Returns:
      A float64 numpy array of shape [batch].
    """
    chunk = positive_int(chunk, "chunk")
    if model.latent_dim != 2:
        raise ValueError(f"Quadrature needs a 2-d latent space; this model has latent_dim="
                         f"{model.latent_dim}. Use AIS for larger latents.")
    z, cell_area = latent_grid(grid_size, bound)
    x = tf.convert_to_tensor(x, tf.float32)
    log_joint = []
    for start in range(0, len(z), chunk):
        z_chunk = tf.constant(z[start:start + chunk])
        params = model.decoder(z_chunk)                        # [G, ...]
        log_px_z = model.likelihood.log_prob(x[:, None], params[None])  # [B, G]
        log_joint.append(log_px_z + model.prior.log_prob(z_chunk)[None])
    log_joint = tf.cast(tf.concat(log_joint, axis=1), tf.float64)
    return (tf.reduce_logsumexp(log_joint, axis=1) + np.log(cell_area)).numpy()
