"""Test metrics computed from exported SavedModels alone (no Keras model needed).

What the shipped models' cards record, and what the zoo test reproduces:

- `served_log_likelihood`: exact log p(x) of a 2-d latent decoder by quadrature
  (`avb_keras.evaluation.quadrature`), with p(x|z) from the `serving_default`
  logits; deterministic.
- `served_reconstruction`: -log p(x|z) per example with z from the `encode`
  signature (seeded) and p(x|z) from the decoder's logits; and, when the encoder
  returns a Gaussian q (the VAE), the ELBO with the KL in closed form:

      reconstruction = -log p(x | z),  z ~ q(z|x)
      elbo           = log p(x | z) - KL(N(z_mean, z_std^2) || N(0, I))

  One draw of z per example; `seed` fixes it, so the value is reproducible,
  and the spread over seeds (`monte_carlo_spread`) states its Monte Carlo error.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from avb_keras import likelihoods, priors
from avb_keras.checks import positive_int
from avb_keras.evaluation.quadrature import quadrature_log_likelihood

tfd = tfp.distributions


def _loaded(path):
    from avb_keras.export.requests import version_dir
    return tf.saved_model.load(str(version_dir(path)))


class _ServedDecoder:
    """What `quadrature_log_likelihood` uses of a model, backed by a SavedModel."""

    def __init__(self, path):
        self.signature = _loaded(path).signatures["serving_default"]
        self.latent_dim = int(self.signature.structured_input_signature[1]["z"].shape[-1])
        self.likelihood = likelihoods.Bernoulli()
        self.prior = priors.standard_normal(self.latent_dim)

    def decoder(self, z):
        return self.signature(z=tf.cast(z, tf.float32))["logits"]

    def build(self, x):
        self.likelihood.build((None,) + tuple(x.shape[1:]))


def served_log_likelihood(decoder_path, x, grid_size=400, bound=6.0):
    """Exact log p(x) per example (nats) of a 2-d latent Bernoulli decoder SavedModel."""
    model = _ServedDecoder(decoder_path)
    x = np.asarray(x, "float32")
    model.build(x)
    return quadrature_log_likelihood(model, x, grid_size=grid_size, bound=bound)


def served_reconstruction(encoder_path, decoder_path, x, seed=0, batch_size=500, elbo=False):
    """Per-example -log p(x|z) and, with `elbo=True`, the ELBO (numpy arrays, nats).

    `elbo=True` needs an encoder whose q(z|x) is the Gaussian of z_mean/z_std (the
    VAE; for AVB they are only q's moments, and the KL of that Gaussian is a lower
    bound on q's, see `evaluation.kl_lower_bound`).

    Batch i of `x` is encoded with seed `seed * 1000 + i`, so the result depends
    on `seed` and `batch_size` only.
    """
    batch_size = positive_int(batch_size, "batch_size")
    encode = _loaded(encoder_path).signatures["encode"]
    decode = _loaded(decoder_path).signatures["serving_default"]
    x = np.asarray(x, "float32")
    likelihood = likelihoods.Bernoulli()
    likelihood.build((None,) + x.shape[1:])
    reconstruction, elbos = [], []
    for i, start in enumerate(range(0, len(x), batch_size)):
        batch = tf.constant(x[start:start + batch_size])
        q = encode(x=batch, seed=tf.constant(seed * 1000 + i, tf.int64))
        log_px_z = likelihood.log_prob(batch, decode(z=q["z"])["logits"])
        reconstruction.append(-log_px_z.numpy())
        if elbo:
            posterior = tfd.Independent(tfd.Normal(q["z_mean"], q["z_std"]), 1)
            kl = tfd.kl_divergence(posterior, priors.standard_normal(q["z"].shape[-1]))
            elbos.append((log_px_z - kl).numpy())
    result = {"reconstruction": np.concatenate(reconstruction)}
    if elbo:
        result["elbo"] = np.concatenate(elbos)
    return result


def monte_carlo_spread(encoder_path, decoder_path, x, seeds=(1, 2, 3, 4, 5), batch_size=500,
                       elbo=False):
    """The standard deviation over `seeds` of each mean metric: its Monte Carlo error."""
    means = [{k: float(v.mean()) for k, v in served_reconstruction(
                 encoder_path, decoder_path, x, s, batch_size, elbo).items()}
             for s in seeds]
    return {k: float(np.std([m[k] for m in means], ddof=1)) for k in means[0]}
