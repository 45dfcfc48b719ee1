"""Adversaries: logits that tell q-samples from prior (or contrast) samples.

- `InnerProductAdversary`: T(x, z) of AVB, conditioned on x.
- `ConcatAdversary`: T(x, z) = MLP([x, z]), the plain adversary of public AVB
  implementations (and of the PyTorch baseline in `benchmarks/`).
- `LatentAdversary`: T(z) on z alone, for an unconditional q(z) (AVB for
  black-box variational inference) or an aggregate posterior (the AAE).

Each tells `avb_keras.flops` which of its layers run once per x and which once
per latent it is shown (`branch_layers`).
"""

import math

import keras
import tensorflow as tf

from avb_keras.checks import positive_int, positive_ints
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
        hidden_units = positive_ints(hidden_units, "hidden_units")
        inner_dim = positive_int(inner_dim, "inner_dim")
        conv_filters = positive_ints(conv_filters, "conv_filters")
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
        self.hidden_units = hidden_units
        self.inner_dim = inner_dim
        self.activation = activation
        self.conv_filters = conv_filters
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

    def branch_layers(self):
        """(layers run once per x, layers run once per latent shown)."""
        return ([*self.x_convs, *self.x_hidden, self.theta, self.t_x],
                [*self.z_hidden, self.s, self.t_z])

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, inner_dim=self.inner_dim,
                      activation=self.activation, conv_filters=self.conv_filters,
                      prior_term=self.prior_term)
        return config


@keras.saving.register_keras_serializable(package="avb_keras")
class ConcatAdversary(keras.Model):
    """T(x, z) = MLP([flatten(x), z]) (+ 0.5 ||z||^2): the plain adversary on the pair.

    The first layer is one Dense layer on the concatenation, stored as its two
    blocks, since

        W [x; z] + b = W_x x + (W_z z + b),

    so that the x-block runs once per x however many latents T is shown (a
    q-sample and a prior sample in each step of Algorithm 1): the same function
    and parameters as a Dense layer on concat(x, z), with the x-branch's
    arithmetic shared. At the optimum T*(x, z) = log q(z|x) - log p(z).

    Call with (x, z): z is [batch, d] or [S, batch, d]; returns T with z's
    leading shape. `prior_term` adds the analytic -log N(z; 0, I) (up to its
    constant), as `InnerProductAdversary` does; public implementations of plain
    AVB leave it out.
    """

    def __init__(self, hidden_units=(128,), activation="relu", prior_term=False, **kwargs):
        kwargs.setdefault("autocast", False)  # z reaches the prior term unrounded
        super().__init__(**kwargs)
        hidden_units = positive_ints(hidden_units, "hidden_units")
        if not hidden_units:
            raise ValueError("ConcatAdversary needs at least one hidden layer.")
        # Layers: the first hidden layer's two blocks, then an MLP on its output.
        self.x_block = keras.layers.Dense(hidden_units[0], use_bias=False, name="x_block")
        self.z_block = keras.layers.Dense(hidden_units[0], name="z_block")
        self.hidden = [keras.layers.Dense(u, activation=activation) for u in hidden_units[1:]]
        self.logit = keras.layers.Dense(1, name="logit")
        # Config.
        self.hidden_units = hidden_units
        self.activation = activation
        self.prior_term = bool(prior_term)

    def call(self, inputs):
        x, z = inputs
        x = tf.reshape(x, [tf.shape(x)[0], math.prod(x.shape[1:])])
        first = keras.activations.get(self.activation)(self.x_block(x) + self.z_block(z))
        logits = tf.cast(self.logit(apply(self.hidden, first))[..., 0], self.variable_dtype)
        if self.prior_term:
            logits += 0.5 * tf.reduce_sum(tf.square(tf.cast(z, self.variable_dtype)), axis=-1)
        return logits

    def branch_layers(self):
        """(layers run once per x, layers run once per latent shown)."""
        return [self.x_block], [self.z_block, *self.hidden, self.logit]

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, activation=self.activation,
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
        hidden_units = positive_ints(hidden_units, "hidden_units")
        # Layers.
        self.hidden = [keras.layers.Dense(u, activation=activation) for u in hidden_units]
        self.logit = keras.layers.Dense(1, name="logit")
        # Config.
        self.hidden_units = hidden_units
        self.activation = activation
        self.prior_term = bool(prior_term)

    def call(self, z):
        logits = tf.cast(self.logit(apply(self.hidden, z))[..., 0], self.variable_dtype)
        if self.prior_term:
            logits += 0.5 * tf.reduce_sum(tf.square(tf.cast(z, self.variable_dtype)), axis=-1)
        return logits

    def branch_layers(self):
        """(layers run once per x: none, layers run once per latent shown)."""
        return [], [*self.hidden, self.logit]

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, activation=self.activation,
                      prior_term=self.prior_term)
        return config
