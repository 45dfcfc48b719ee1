"""Layers the networks are built from: noise sources and the moment sampler."""

import keras
import tensorflow as tf

from avb_keras import contrast
from avb_keras.checks import positive_int, positive_ints


@keras.saving.register_keras_serializable(package="avb_keras")
class StandardNormalNoise(keras.layers.Layer):
    """eps ~ N(0, I) of shape [batch, dim], drawn afresh at every call.

    The batch size is read from the input, so the layer can sit anywhere in a
    functional encoder. The noise is always present, in training and at
    inference: an implicit encoder is a sampler (Mescheder et al. 2017, the
    "Method" section: z = f(x, eps); without the noise q(z|x) is a point mass,
    log q(z|x) - log p(z) is infinite and the adversary's task has no finite
    optimum).
    """

    def __init__(self, dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dim = positive_int(dim, "dim")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        batch = tf.shape(inputs)[0]
        return keras.random.normal((batch, self.dim), seed=self.seed_generator, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="avb_keras")
class MomentSampler(keras.layers.Layer):
    """The structured sampler of the authors' moment encoder, with its moments.

        z = a_0(x) + sum_{i=1..m} a_i(x) * v_i(eps_i),   eps_i ~ N(0, I)

    a_0 and a_i > 0 come from the layer's inputs; each v_i is a small MLP of
    noise alone (vectorised over i here). Because v_i does not depend on x, its
    mean and covariance are estimated over the call's rows of noise draws
    (`contrast.moments`, shrunk as there when there are at most d rows), giving
    the moments of q in closed form:

        mu(x)      = a_0(x) + sum_i a_i(x) * E[v_i]
        Sigma(x)   = sum_i diag(a_i(x)) Cov[v_i] diag(a_i(x))      (the v_i are independent)
        sigma(x)^2 = diag Sigma(x) = sum_i a_i(x)^2 * Var[v_i]

    Inputs: (a_0 [batch, d], a [batch, m, d]). Returns (z, mu, sigma^2, Sigma).

    Which rows: in a training step, the B rows of the batch itself (B = 128 for
    the MNIST presets, more than d + 1 draws of each v_i, and no extra encoder
    pass); outside training (`AVB.moment_matched_gaussian`: AIS, the export,
    monitoring) the batch is tiled to at least `contrast.MOMENT_SAMPLES` rows
    first, since a batch of a few examples (one, at serving) would give a
    collapsed or noisy Cov[v_i].
    """

    def __init__(self, num_basis, latent_dim, noise_dim=None, hidden_units=(64,),
                 activation="elu", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_basis = positive_int(num_basis, "num_basis")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.noise_dim = positive_int(latent_dim if noise_dim is None else noise_dim,
                                      "noise_dim")
        self.hidden_units = positive_ints(hidden_units, "hidden_units")
        self.activation = keras.activations.get(activation)
        self._activation_name = activation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        # One weight stack per layer of the m noise MLPs: [m, fan_in, fan_out].
        self.kernels, self.biases = [], []
        fan_in = self.noise_dim
        for i, units in enumerate(self.hidden_units + (self.latent_dim,)):
            self.kernels.append(self.add_weight(
                name=f"kernel_{i}", shape=(self.num_basis, fan_in, units),
                initializer="glorot_uniform"))
            self.biases.append(self.add_weight(
                name=f"bias_{i}", shape=(self.num_basis, units), initializer="zeros"))
            fan_in = units

    def call(self, inputs):
        a0, a = inputs
        batch = tf.shape(a0)[0]
        eps = keras.random.normal((batch, self.num_basis, self.noise_dim),
                                  seed=self.seed_generator, dtype=self.compute_dtype)
        # The m MLPs as batched matmuls over a leading basis axis (faster than einsum's).
        v = tf.transpose(eps, [1, 0, 2])
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            v = tf.matmul(v, kernel) + bias[:, None, :]
            if i < len(self.kernels) - 1:
                v = self.activation(v)
        v = tf.transpose(v, [1, 0, 2])                                 # [batch, m, d]
        z = a0 + tf.reduce_sum(a * v, axis=1)
        v_moments = contrast.moments(v, "full")                        # over the batch's rows
        mean = a0 + tf.reduce_sum(a * v_moments["mean"], axis=1)
        variance = tf.reduce_sum(tf.square(a) * v_moments["variance"], axis=1)
        covariance = tf.einsum("bmi,bmj,mij->bij", a, a, v_moments["covariance"])
        return z, mean, variance, covariance

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0])
        return shape, shape, shape, shape + (shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(num_basis=self.num_basis, latent_dim=self.latent_dim,
                      noise_dim=self.noise_dim, hidden_units=self.hidden_units,
                      activation=self._activation_name, seed=self.seed)
        return config


def conv_stack(filters, activation, kernel_size=5):
    """Strided 'same' convolutions that halve the resolution at each layer."""
    return [keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation)
            for f in filters]


def apply(layers, h):
    for layer in layers:
        h = layer(h)
    return h


def mlp(h, hidden_units, activation):
    """The MLP trunk of every network: h_k = act(W_k h_{k-1} + b_k), layers "hidden_k"."""
    for k, units in enumerate(positive_ints(hidden_units, "hidden_units"), start=1):
        h = keras.layers.Dense(units, activation=activation, name=f"hidden_{k}")(h)
    return h


def x_features(x, conv_filters, activation):
    """The deterministic trunk on x: optional convolutions, then flatten."""
    return keras.layers.Flatten()(apply(conv_stack(conv_filters, activation), x))


def seed_offset(seed, offset):
    """Distinct, reproducible seeds for the noise layers of one network."""
    return None if seed is None else int(seed) + offset
