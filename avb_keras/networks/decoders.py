"""Decoders: functional Keras models from z to the parameters of p(x|z).

The output is shaped like one example (e.g. [28, 28, 1]) and holds the
likelihood's parameters: logits for `Bernoulli`, the mean for `Gaussian`.
"""

import math

import keras

from avb_keras.checks import positive_int, positive_ints
from avb_keras.networks.layers import mlp


def mlp_decoder(latent_dim, data_shape, hidden_units=(256, 256), activation="elu",
                name="decoder"):
    """params(z) = reshape(W_out MLP(z) + b_out, data_shape)."""
    latent_dim, data_shape = positive_int(latent_dim, "latent_dim"), positive_ints(
        data_shape, "data_shape")
    z = keras.Input(shape=(latent_dim,), name="z")
    h = mlp(z, hidden_units, activation)
    params = keras.layers.Dense(math.prod(data_shape), name="params")(h)
    params = keras.layers.Reshape(tuple(data_shape))(params)
    return keras.Model(z, params, name=name)


def conv_decoder(latent_dim, data_shape, hidden_units=(512,), conv_filters=(64, 32),
                 activation="elu", kernel_size=5, name="decoder"):
    """Dense layers to a coarse feature map, then strided transposed convolutions.

    Each transposed convolution doubles the resolution, so the data's height and
    width must be divisible by 2 ** len(conv_filters).
    """
    latent_dim = positive_int(latent_dim, "latent_dim")
    height, width, channels = positive_ints(data_shape, "data_shape")
    conv_filters = positive_ints(conv_filters, "conv_filters")
    scale = 2 ** len(conv_filters)
    if height % scale or width % scale:
        raise ValueError(
            f"conv_decoder needs height and width divisible by {scale} "
            f"(2 ** len(conv_filters)); got data_shape={tuple(data_shape)}."
        )
    base = (height // scale, width // scale, conv_filters[0])
    z = keras.Input(shape=(latent_dim,), name="z")
    h = mlp(z, hidden_units, activation)
    h = keras.layers.Dense(math.prod(base), activation=activation)(h)
    h = keras.layers.Reshape(base)(h)
    for filters in conv_filters:
        h = keras.layers.Conv2DTranspose(filters, kernel_size, strides=2, padding="same",
                                         activation=activation)(h)
    params = keras.layers.Conv2D(channels, kernel_size, padding="same", name="params")(h)
    return keras.Model(z, params, name=name)
