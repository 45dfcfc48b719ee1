"""Adversaries: logits that tell q-samples from prior (or contrast) samples.

- `InnerProductAdversary`: T(x, z) of AVB, conditioned on x.
- `LatentAdversary`: T(z) on z alone, for an unconditional q(z) (AVB for
  black-box variational inference) or an aggregate posterior (the AAE).
"""

import math

import keras
import tensorflow as tf

from avb_keras.networks.layers import apply, conv_stack


@keras.saving.register_keras_serializable(package="avb_keras")
class InnerProductAdversary(keras.Model):
    """Inner-product adversary with the analytic prior term (Mescheder et al. 2017).

        T(x, z) = <theta(x), s(z)> + T_x(x) + T_z(z) + 0.5 ||z||^2

    theta, s are MLPs with `inner_dim` outputs and T_x, T_z scalar heads on the
    same hidden features. At the optimum of the logistic loss,
    T*(x, z) = log q(z|x) - log p(z). The last term is -log N(z; 0, I) up to its
    constant (d/2) log(2 pi), added analytically as the authors do, so the
    network only has to learn log q(z|x) (up to that constant). The output
    layers of theta and T_x start near zero (stddev 1e-5).

    Call with (x, z): z is [batch, d] or [S, batch, d] (S sets of latents for
    the same x, e.g. q-samples and prior samples); the x-branch runs once either
    way. Returns T with z's leading shape ([batch] or [S, batch]). Under a mixed
    precision policy the hidden layers compute in 16 bits, but the inner product,
    the prior term and T are float32 (the variables' dtype).
    """

    def __init__(self, hidden_units=(256, 256), inner_dim=256, activation="leaky_relu",
                 conv_filters=(), prior_term=True, **kwargs):
        kwargs.setdefault("autocast", False)  # z reaches the prior term unrounded
        super().__init__(**kwargs)
        # Layers.
        small = keras.initializers.RandomNormal(stddev=1e-5)
        self.x_convs = conv_stack(conv_filters, activation)
        self.x_hidden = [keras.layers.Dense(u, activation=activation) for u in hidden_units]
        self.z_hidden = [keras.layers.Dense(u, activation=activation) for u in hidden_units]
        self.theta = keras.layers.Dense(inner_dim, kernel_initializer=small, name="theta")
        self.t_x = keras.layers.Dense(1, kernel_initializer=small, name="t_x")
        self.s = keras.layers.Dense(inner_dim, name="s")
        self.t_z = keras.layers.Dense(1, name="t_z")
        # Config.
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.inner_dim = int(inner_dim)
        self.activation = activation
        self.conv_filters = tuple(int(f) for f in conv_filters)
        self.prior_term = bool(prior_term)

    def call(self, inputs):
        x, z = inputs
        h_x = apply(self.x_convs, x)
        h_x = apply(self.x_hidden, tf.reshape(h_x, [tf.shape(h_x)[0], math.prod(h_x.shape[1:])]))
        h_z = apply(self.z_hidden, z)
        logits = (tf.reduce_sum(self._full(self.theta(h_x)) * self._full(self.s(h_z)), axis=-1)
                  + self._full(self.t_x(h_x)[..., 0] + self.t_z(h_z)[..., 0]))
        if self.prior_term:
            logits += 0.5 * tf.reduce_sum(tf.square(self._full(z)), axis=-1)
        return logits

    def _full(self, t):
        return tf.cast(t, self.variable_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, inner_dim=self.inner_dim,
                      activation=self.activation, conv_filters=self.conv_filters,
                      prior_term=self.prior_term)
        return config


@keras.saving.register_keras_serializable(package="avb_keras")
class LatentAdversary(keras.Model):
    """T(z) = MLP(z) + 0.5 ||z||^2: a logit on z alone, with the analytic prior term.

    At the optimum of the logistic loss between samples of q(z) and of N(0, I),
    T*(z) = log q(z) - log N(z; 0, I). For the adversarial autoencoder q(z) is the
    aggregate posterior E_x q(z|x) (T cannot see x); for `AdversarialVI` it is
    the variational distribution itself. The prior term is -log N(z; 0, I) up to
    its constant, as in `InnerProductAdversary`, so the network only has to learn
    log q(z).

    Call with z of shape [batch, d] or [S, batch, d]; returns [batch] or [S, batch],
    in float32 (the variables' dtype) under a mixed precision policy too.
    """

    def __init__(self, hidden_units=(256, 256), activation="leaky_relu", prior_term=True,
                 **kwargs):
        kwargs.setdefault("autocast", False)  # z reaches the prior term unrounded
        super().__init__(**kwargs)
        # Layers.
        self.hidden = [keras.layers.Dense(u, activation=activation) for u in hidden_units]
        self.logit = keras.layers.Dense(1, name="logit")
        # Config.
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.prior_term = bool(prior_term)

    def call(self, z):
        logits = tf.cast(self.logit(apply(self.hidden, z))[..., 0], self.variable_dtype)
        if self.prior_term:
            logits += 0.5 * tf.reduce_sum(tf.square(tf.cast(z, self.variable_dtype)), axis=-1)
        return logits

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, activation=self.activation,
                      prior_term=self.prior_term)
        return config
