"""Observation models p(x | z) built on tensorflow-probability distributions.

A decoder network maps a latent code z to the *parameters* of p(x | z), shaped
like one example. A likelihood turns those parameters into a distribution over
the whole example,

    p(x | z) = prod_pixels p(x_pixel | params_pixel),

so that `log_prob` is a per-example sum over pixels in nats. Keeping the
reconstruction term on this scale matters for AVB: the adversary's estimate of
log q(z|x) - log p(z) is per example too, and mixing a per-pixel mean with a
per-example sum silently breaks the objective (the ELBO of Mescheder et al. 2017
is per example: log p(x|z) of the whole image against one KL).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


class Likelihood(keras.layers.Layer):
    """Base class: `distribution(params)` is a `tfd.Independent` over one example."""

    #: What values an observation may take; used by the input checks.
    support = "real"
    #: Whether the decoder's outputs (the parameters) are logits, which the exported
    #: decoder then also returns as "logits".
    has_logits = False

    def build(self, params_shape):
        # The rank of one example: extra leading axes of params are sample axes.
        self.event_ndims = len(params_shape) - 1

    def distribution(self, params):
        raise NotImplementedError

    def log_prob(self, x, params):
        """log p(x | z) per example, summed over pixels (nats)."""
        return self.distribution(params).log_prob(x)

    def mean(self, params):
        """E[x | z], shaped like the data."""
        return self.distribution(params).mean()


@keras.saving.register_keras_serializable(package="avb_keras")
class Bernoulli(Likelihood):
    """Independent Bernoulli pixels; the decoder outputs their logits.

        log p(x | z) = sum_i x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i)

    Grey levels in [0, 1] are accepted as soft targets (the cross-entropy), which
    is what a static or dynamic binarization produces on average.
    """

    support = "unit_interval"
    has_logits = True

    def distribution(self, params):
        return tfd.Independent(
            tfd.Bernoulli(logits=params, dtype=params.dtype),
            reinterpreted_batch_ndims=self.event_ndims,
        )

    def log_prob(self, x, params):
        """log p(x | z) per example: the distribution's log_prob, in fewer passes.

        Since log sigmoid(l) - log sigmoid(-l) = l,

            x log sigmoid(l) + (1 - x) log sigmoid(-l) = x l - softplus(l),

        one softplus per pixel where `tfd.Bernoulli` computes two, two negations
        and two `multiply_no_nan`; the gradient is written out,

            d/dl = x - sigmoid(l),   d/dx = l,

        one pass each instead of autodiff's chain of broadcasts and products.
        The log-likelihood is the largest element-wise cost of a training step
        on MNIST and of every AIS leapfrog step (docs/PERFORMANCE.md). Equal to
        `distribution(params).log_prob(x)`, and so are its gradients, up to float
        rounding for finite logits (tests/test_likelihoods.py).
        """
        return bernoulli_log_prob(tf.cast(x, params.dtype), params, self.event_ndims)


def bernoulli_log_prob(x, logits, event_ndims):
    """sum over the last `event_ndims` axes of x l - softplus(l), with the gradients above.

    x broadcasts against the logits (which may carry extra leading sample axes).
    """
    axes = list(range(-event_ndims, 0))

    @tf.custom_gradient
    def log_prob(x, logits):
        def gradient(upstream):
            # [..., 1, ..., 1]: the upstream gradient, one per example, over its pixels.
            g = tf.reshape(upstream, tf.concat([tf.shape(upstream),
                                                tf.ones([event_ndims], tf.int32)], 0))
            return (_sum_to_shape(g * logits, tf.shape(x)),
                    _sum_to_shape(g * (x - tf.sigmoid(logits)), tf.shape(logits)))
        return tf.reduce_sum(x * logits - tf.math.softplus(logits), axis=axes), gradient

    return log_prob(x, logits)


def _sum_to_shape(t, shape):
    """`t` summed over the axes along which a tensor of `shape` was broadcast to it."""
    axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=shape, s1=tf.shape(t))
    return tf.reshape(tf.reduce_sum(t, axis=axes), shape)


@keras.saving.register_keras_serializable(package="avb_keras")
class Gaussian(Likelihood):
    """Independent Gaussian pixels with a learned scale per pixel.

        p(x | z) = prod_i N(x_i; m_i(z), exp(s_i)^2)

    The decoder outputs the mean m(z); the log-scales s are weights of this layer
    (trained with the decoder), initialised at `initial_scale`.
    """

    def __init__(self, initial_scale=1.0, min_scale=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.initial_scale = float(initial_scale)
        self.min_scale = float(min_scale)

    def build(self, params_shape):
        super().build(params_shape)
        self.log_scale = self.add_weight(
            name="log_scale",
            shape=tuple(params_shape[1:]),
            initializer=keras.initializers.Constant(
                float(tf.math.log(self.initial_scale))
            ),
        )

    def distribution(self, params):
        scale = self.min_scale + tf.exp(tf.cast(self.log_scale, params.dtype))
        return tfd.Independent(
            tfd.Normal(loc=params, scale=scale),
            reinterpreted_batch_ndims=self.event_ndims,
        )

    def mean(self, params):
        return params

    def get_config(self):
        config = super().get_config()
        config.update(initial_scale=self.initial_scale, min_scale=self.min_scale)
        return config


_BY_NAME = {"bernoulli": Bernoulli, "gaussian": Gaussian}


def get(identifier):
    """A likelihood from a name ("bernoulli", "gaussian"), a config dict or an instance."""
    if isinstance(identifier, Likelihood):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"Unknown likelihood {identifier!r}; expected one of {sorted(_BY_NAME)} "
        "or a `avb_keras.likelihoods.Likelihood` instance."
    )
