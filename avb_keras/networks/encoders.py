"""Encoders: functional Keras models from x to samples (and moments) of q(z|x).

- `implicit_encoder`: the AVB "neural sampler" z = f(x, eps). Noise is
  concatenated to the input features and injected after every hidden layer
  through a learned linear map, as in the paper's encoders. q(z|x) has no
  density; returns z.
- `moment_encoder`: the authors' structured sampler for Adaptive Contrast,
  z = a_0(x) + sum_i a_i(x) v_i(eps_i); returns {"z", "mean", "variance",
  "covariance"}.
- `gaussian_encoder`: the VAE's q(z|x) = N(mean(x), stddev(x)^2); returns
  {"mean", "stddev"}.
- `noise_sampler`: an unconditional sampler z = f(eps), the variational
  family of AVB for black-box inference (`avb_keras.AdversarialVI`).
"""

import keras

from avb_keras.checks import positive_int, positive_ints
from avb_keras.networks.layers import (MomentSampler, StandardNormalNoise, mlp, seed_offset,
                                       x_features)


@keras.saving.register_keras_serializable(package="avb_keras")
def _shifted_elu(t):
    """ELU(t - 5) + 1: positive coefficients that start small (about e^-5)."""
    return keras.ops.elu(t - 5.0) + 1.0


@keras.saving.register_keras_serializable(package="avb_keras")
def _positive_scale(t):
    """softplus(t) + 1e-6: a standard deviation that never reaches zero."""
    return keras.ops.softplus(t) + 1e-6


def implicit_encoder(data_shape, latent_dim, hidden_units=(256, 256), noise_dim=32,
                     activation="elu", conv_filters=(), seed=None, name="encoder"):
    """z = f(x, eps): noise concatenated to x and added after each hidden layer.

        h_0 = [features(x), eps_0]
        h_k = act(W_k h_{k-1} + b_k + B_k eps_k),   eps_k ~ N(0, I)
        z   = W_out h_K + b_out
    """
    data_shape, latent_dim, hidden_units = _sizes(data_shape, latent_dim, hidden_units)
    noise_dim = positive_int(noise_dim, "noise_dim")
    x = keras.Input(shape=data_shape, name="x")
    features = x_features(x, conv_filters, activation)
    eps = StandardNormalNoise(noise_dim, seed=seed_offset(seed, 0), name="eps_0")(features)
    h = keras.layers.Concatenate()([features, eps])
    for k, units in enumerate(hidden_units, start=1):
        eps = StandardNormalNoise(noise_dim, seed=seed_offset(seed, k), name=f"eps_{k}")(h)
        injected = keras.layers.Dense(units, use_bias=False, name=f"noise_map_{k}")(eps)
        h = keras.layers.Dense(units, name=f"hidden_{k}")(h)
        h = keras.layers.Activation(activation)(keras.layers.Add()([h, injected]))
    z = keras.layers.Dense(latent_dim, name="z")(h)
    return keras.Model(x, z, name=name)


def moment_encoder(data_shape, latent_dim, hidden_units=(256, 256), num_basis=16,
                   basis_units=(64,), noise_dim=None, activation="elu", conv_filters=(),
                   seed=None, name="encoder"):
    """z = a_0(x) + sum_i a_i(x) v_i(eps_i) with analytic moments (see MomentSampler).

        a_i(x) = ELU(W_i h(x) + b_i - 5) + 1 > 0
    """
    data_shape, latent_dim, hidden_units = _sizes(data_shape, latent_dim, hidden_units)
    num_basis = positive_int(num_basis, "num_basis")
    x = keras.Input(shape=data_shape, name="x")
    h = mlp(x_features(x, conv_filters, activation), hidden_units, activation)
    a0 = keras.layers.Dense(latent_dim, name="a_0")(h)
    a = keras.layers.Dense(num_basis * latent_dim, name="a")(h)
    a = keras.layers.Activation(_shifted_elu, name="positive")(a)
    a = keras.layers.Reshape((num_basis, latent_dim))(a)
    # float32 under a mixed policy too: z - mean cancels to O(sigma), which starts ~e^-5.
    z, mean, variance, covariance = MomentSampler(
        num_basis, latent_dim, noise_dim, basis_units, activation, seed=seed, dtype="float32",
        name="moments")([a0, a])
    return keras.Model(x, {"z": z, "mean": mean, "variance": variance, "covariance": covariance},
                       name=name)


def gaussian_encoder(data_shape, latent_dim, hidden_units=(256, 256), activation="elu",
                     conv_filters=(), name="encoder"):
    """q(z|x) = N(mean(x), stddev(x)^2), stddev = softplus(.) + 1e-6."""
    data_shape, latent_dim, hidden_units = _sizes(data_shape, latent_dim, hidden_units)
    x = keras.Input(shape=data_shape, name="x")
    h = mlp(x_features(x, conv_filters, activation), hidden_units, activation)
    mean = keras.layers.Dense(latent_dim, name="mean")(h)
    stddev = keras.layers.Dense(latent_dim, name="stddev_raw")(h)
    stddev = keras.layers.Activation(_positive_scale, name="stddev")(stddev)
    return keras.Model(x, {"mean": mean, "stddev": stddev}, name=name)


def noise_sampler(dim, noise_dim=None, hidden_units=(256, 256), activation="elu",
                  name="sampler"):
    """z = f(eps), eps ~ N(0, I_noise_dim): an MLP of noise alone, q(z) implicit.

        h_k = act(W_k h_{k-1} + b_k),  h_0 = eps;   z = W_out h_K + b_out
    """
    dim = positive_int(dim, "dim")
    noise_dim = dim if noise_dim is None else positive_int(noise_dim, "noise_dim")
    eps = keras.Input(shape=(noise_dim,), name="eps")
    h = mlp(eps, positive_ints(hidden_units, "hidden_units"), activation)
    z = keras.layers.Dense(dim, name="z")(h)
    return keras.Model(eps, z, name=name)


def _sizes(data_shape, latent_dim, hidden_units):
    """(data_shape, latent_dim, hidden_units) checked: positive integers throughout."""
    return (positive_ints(data_shape, "data_shape"), positive_int(latent_dim, "latent_dim"),
            positive_ints(hidden_units, "hidden_units"))
