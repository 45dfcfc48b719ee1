"""The variational autoencoder (Kingma and Welling 2014), the baseline of every table.

    q(z|x) = N(mean(x), diag(stddev(x)^2)),   z = mean + stddev * eps,  eps ~ N(0, I)
    ELBO   = E_q[ log p(x|z) ] - KL(q(z|x) || p(z))     (KL in closed form)
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from avb_keras import contrast, networks
from avb_keras.models.base import LatentVariableModel, encoder_trunk

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="avb_keras")
class VAE(LatentVariableModel):
    """VAE with a Gaussian encoder returning {"mean", "stddev"}.

    Args:
      encoder: a Keras model from x to {"mean", "stddev"}, e.g.
        `avb_keras.networks.gaussian_encoder`.
      decoder: a Keras model from z to the likelihood's parameters.
      likelihood: "bernoulli", "gaussian" or a `Likelihood`.
      preset, seed: recorded in the config; `seed` seeds the reparameterization.
    """

    encoder_type = "gaussian"

    def __init__(self, encoder, decoder, likelihood="bernoulli", preset=None, seed=None,
                 **kwargs):
        super().__init__(encoder, decoder, likelihood, preset=preset, seed=seed, **kwargs)
        self.build()

    @classmethod
    def preset_arguments(cls, preset, seed, **overrides):
        """The Gaussian encoder of `preset`'s sizes."""
        encoder = networks.gaussian_encoder(preset.data_shape, preset.latent_dim,
                                            **encoder_trunk(preset))
        return {"encoder": encoder, **overrides}

    def posterior(self, x):
        """q(z|x) as a tfp distribution."""
        out = self.to_density_dtype(self.encoder(x))
        return tfd.Independent(tfd.Normal(out["mean"], out["stddev"]), 1)

    def encode(self, x):
        return self.reparameterized_sample(self.posterior(x))

    def reparameterized_sample(self, q):
        """z = mean + stddev * eps, eps ~ N(0, I) from the model's generator."""
        eps = keras.random.normal(tf.shape(q.mean()), seed=self.seed_generator, dtype=q.dtype)
        return q.mean() + q.stddev() * eps

    def moment_matched_gaussian(self, x, covariance="diagonal", num_samples=None, seed=None):
        """q(z|x) itself, exactly (no draws, no floor); see the base class."""
        q = self.posterior(x)
        if contrast.check_covariance(covariance) == "full":
            return tfd.MultivariateNormalTriL(q.mean(), tf.linalg.diag(q.stddev()))
        return q

    def compute_terms(self, x):
        q = self.posterior(x)
        z = self.reparameterized_sample(q)
        return {"reconstruction": -self.log_likelihood(x, z),
                "kl": tfd.kl_divergence(q, self.prior)}

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        """One step on -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z))."""
        x = self.images(data)
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x)
            loss = tf.reduce_mean(self.primal_loss(terms))
        self.apply_gradients(self.optimizer, tape, loss, self.primal_variables)
        return self.update_metrics(terms)
