"""A linear-Gaussian latent model with a closed-form log p(x): ground truth for the estimators.

    z ~ N(0, I),   x = W^T z + b + s * noise,   p(x) = N(x; b, W^T W + s^2 I)

built as a `VAE` with linear networks (W is the decoder's [latent, data] kernel) and
the `Gaussian` likelihood at a fixed scale s. Its encoder is set to the posterior's
mean and marginal standard deviations,

    Sigma = (I + W W^T / s^2)^-1,   E[z|x] = Sigma W (x - b) / s^2,

which is the exact posterior when latent_dim = 1.
"""

import numpy as np
import tensorflow_probability as tfp

from avb_keras import likelihoods, networks
from avb_keras.checks import positive_int
from avb_keras.models import VAE

tfd = tfp.distributions


def linear_gaussian(latent_dim=2, data_dim=6, noise_scale=0.3, num_examples=32, seed=0,
                    latent_scales=None):
    """(model, x, exact): the model, `num_examples` draws x from it and exact log p(x).

    W has standard normal entries, its row i multiplied by `latent_scales[i]`
    (default 1): unequal scales make the posterior's widths unequal.
    Returns the VAE, x as float32 [num_examples, data_dim] and log p(x) as float64.
    """
    latent_dim = positive_int(latent_dim, "latent_dim")
    data_dim = positive_int(data_dim, "data_dim")
    num_examples = positive_int(num_examples, "num_examples")
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(latent_dim, data_dim))
    if latent_scales is not None:
        w = w * np.asarray(latent_scales, dtype=float)[:, None]
    b = rng.normal(size=data_dim)
    s2 = noise_scale ** 2
    model = VAE(networks.gaussian_encoder((data_dim,), latent_dim, hidden_units=()),
                networks.mlp_decoder(latent_dim, (data_dim,), hidden_units=()),
                likelihood=likelihoods.Gaussian(initial_scale=noise_scale, min_scale=0.0))
    model.decoder.get_layer("params").set_weights([w.astype("float32"), b.astype("float32")])
    sigma = np.linalg.inv(np.eye(latent_dim) + w @ w.T / s2)
    gain = (sigma @ w / s2).T                                       # [data, latent]
    model.encoder.get_layer("mean").set_weights([gain.astype("float32"),
                                                 (-b @ gain).astype("float32")])
    stddev = np.sqrt(np.diag(sigma)) - 1e-6                         # the encoder adds 1e-6
    model.encoder.get_layer("stddev_raw").set_weights(
        [np.zeros((data_dim, latent_dim), "float32"),
         np.log(np.expm1(stddev)).astype("float32")])               # softplus^-1
    z = rng.normal(size=(num_examples, latent_dim))
    x = (z @ w + b + noise_scale * rng.normal(size=(num_examples, data_dim))).astype("float32")
    exact = tfd.MultivariateNormalTriL(
        b, np.linalg.cholesky(w.T @ w + s2 * np.eye(data_dim))).log_prob(x.astype("float64"))
    return model, x, exact.numpy()


def exact_posterior(model, x):
    """p(z|x) = N(Sigma W (x - b) / s^2, Sigma) of a `linear_gaussian` model, float64,
    batch shape [num_examples] (the encoder holds only its marginals)."""
    w, b = (v.astype("float64") for v in model.decoder.get_layer("params").get_weights())
    s2 = float(model.likelihood.initial_scale) ** 2
    sigma = np.linalg.inv(np.eye(len(w)) + w @ w.T / s2)
    mean = (np.asarray(x, "float64") - b) @ (sigma @ w / s2).T
    return tfd.MultivariateNormalTriL(mean, np.linalg.cholesky(sigma))
