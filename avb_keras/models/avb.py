"""Adversarial Variational Bayes (Mescheder, Nowozin and Geiger, ICML 2017).

The encoder is an implicit sampler z = f(x, eps) whose density q(z|x) is
never evaluated. The intractable part of the ELBO is estimated by an adversary
T(x, z) trained by logistic regression:

    adversary:  max_T  E_{x, z~q(z|x)} log sigmoid(T(x, z))
                     + E_{x, z~p(z)}   log(1 - sigmoid(T(x, z)))
    optimum:    T*(x, z) = log q(z|x) - log p(z)
    primal:     max_{theta, phi}  E_{x, eps}[ log p(x|z) - T(x, z) ],  z = f(x, eps)

With Adaptive Contrast (the default; see `avb_keras.contrast`) the adversary
sees z~ = (z - mu(x)) / sigma(x) against N(0, I), and the primal objective is

    E[ log p(x|z) + log p(z) - log r(z|x) - T(x, z~) ],  r(z|x) = N(mu(x), sigma(x)^2).

Both players are updated from the same minibatch in each step, as in the
paper's Algorithm 1; `adversary_steps - 1` extra adversary updates on fresh
samples come first.
"""

import keras
import tensorflow as tf

from avb_keras import contrast
from avb_keras.models.base import LatentVariableModel


def adversary_loss(t_q, t_p):
    """Per-example logistic loss of the adversary, stable in the logits.

        -log sigmoid(T_q) - log(1 - sigmoid(T_p)) = softplus(-T_q) + softplus(T_p)
    """
    return tf.nn.softplus(-t_q) + tf.nn.softplus(t_p)


def adversary_accuracy(t_q, t_p):
    """Per-example share of the pair the adversary classifies right (T_q > 0, T_p < 0)."""
    return 0.5 * (tf.cast(t_q > 0, t_q.dtype) + tf.cast(t_p < 0, t_p.dtype))


@keras.saving.register_keras_serializable(package="avb_keras")
class AVB(LatentVariableModel):
    """AVB, with or without Adaptive Contrast.

    Args:
      encoder: a Keras model from x to z (implicit sampler), or to a dict
        {"z", "mean", "variance"} (the moment encoder).
      decoder: a Keras model from z to the likelihood's parameters.
      adversary: a Keras model from (x, z) to T(x, z), e.g.
        `avb_keras.networks.InnerProductAdversary`.
      likelihood: "bernoulli", "gaussian" or an `avb_keras.likelihoods.Likelihood`.
      adaptive_contrast: contrast q with r(z|x) = N(mu(x), sigma(x)^2) rather
        than with the prior.
      moment_estimator: how mu and sigma are obtained with Adaptive Contrast:
        "analytic" (the encoder returns them; the moment encoder) or
        "monte_carlo" (from `moment_samples` encoder samples per x; any
        encoder). Default: "analytic" when the encoder returns moments.
      moment_samples: K for the Monte Carlo moments.
      adversary_steps: adversary updates per primal update.
      preset, seed: recorded in the config; `seed` seeds the prior samples.
    """

    metric_names = LatentVariableModel.metric_names + ("adversary_loss", "adversary_accuracy")
    network_names = ("encoder", "decoder", "adversary")
    optimizer_names = ("optimizer", "adversary_optimizer")
    preset_family = "avb"

    def __init__(self, encoder, decoder, adversary, likelihood="bernoulli",
                 adaptive_contrast=True, moment_estimator=None, moment_samples=16,
                 adversary_steps=1, **kwargs):
        super().__init__(encoder, decoder, likelihood, **kwargs)
        # Layers.
        self.adversary = adversary
        # Config.
        returns_moments = isinstance(encoder.output, dict) and "mean" in encoder.output
        self.moment_estimator = moment_estimator or (
            "analytic" if returns_moments else "monte_carlo")
        if self.moment_estimator not in ("analytic", "monte_carlo"):
            raise ValueError(f"moment_estimator must be 'analytic' or 'monte_carlo'; "
                             f"got {moment_estimator!r}.")
        if self.moment_estimator == "analytic" and not returns_moments:
            raise ValueError("moment_estimator='analytic' needs an encoder that returns "
                             "{'z', 'mean', 'variance'} (e.g. networks.moment_encoder).")
        if int(moment_samples) < 2:
            raise ValueError(f"moment_samples must be >= 2; got {moment_samples}.")
        if int(adversary_steps) < 1:
            raise ValueError(f"adversary_steps must be >= 1; got {adversary_steps}.")
        self.adaptive_contrast = bool(adaptive_contrast)
        self.moment_samples = int(moment_samples)
        self.adversary_steps = int(adversary_steps)
        self.build()

    @property
    def player_variables(self):
        """Two players, two Adam optimizers by default (the preset's rates, beta_1 = 0.5)."""
        return {"optimizer": self.primal_variables,
                "adversary_optimizer": self.adversary.trainable_variables}

    # ------------------------------------------------------------------ the math

    def posterior_sample(self, x):
        """z ~ q(z|x) and the contrast r(z|x): N(mu, sigma^2) with AC, else p(z)."""
        if not self.adaptive_contrast:
            return self.encode(x), self.prior
        if self.moment_estimator == "analytic":
            out = self.to_density_dtype(self.encoder(x))
            return out["z"], contrast.auxiliary_gaussian(out["mean"], out["variance"])
        # Monte Carlo moments: K - 1 more samples per x, forward pass only
        # (the moments are constants for the gradient).
        z = self.encode(x)
        k = self.moment_samples
        extra = self.encode(tf.tile(x, [k - 1] + [1] * (len(x.shape) - 1)))
        samples = tf.concat([z[None], tf.reshape(extra, [k - 1, -1, self.latent_dim])], axis=0)
        samples = tf.stop_gradient(samples)
        return z, contrast.auxiliary_gaussian(*contrast.monte_carlo_moments(samples))

    def adversary_logits(self, x, z, r):
        """T on (x, z~) with z~ from q, and on (x, z~) with z~ ~ N(0, I)."""
        z_tilde = contrast.normalize(z, r)
        z_prior = keras.random.normal(tf.shape(z_tilde), seed=self.seed_generator,
                                      dtype=z_tilde.dtype)
        logits = self.adversary((x, tf.stack([z_tilde, z_prior])))
        t_q, t_p = tf.unstack(self.to_density_dtype(logits))
        return t_q, t_p

    def compute_terms(self, x):
        z, r = self.posterior_sample(x)
        t_q, t_p = self.adversary_logits(x, z, r)
        # KL(q || p) = E_q[log q - log r] + E_q[log r - log p]; T estimates the first.
        kl = t_q + r.log_prob(z) - self.prior.log_prob(z)
        return {"reconstruction": -self.log_likelihood(x, z), "kl": kl, "t_q": t_q, "t_p": t_p}

    def metric_values(self, terms):
        values = super().metric_values(terms)
        values["adversary_loss"] = adversary_loss(terms["t_q"], terms["t_p"])
        values["adversary_accuracy"] = adversary_accuracy(terms["t_q"], terms["t_p"])
        return values

    # ------------------------------------------------------------------ training

    def adversary_step(self, x):
        """One update of T alone, on fresh samples; returns the mean loss."""
        z, r = self.posterior_sample(x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(adversary_loss(*self.adversary_logits(x, z, r)))
        self.apply_gradients(self.adversary_optimizer, tape, loss,
                             self.adversary.trainable_variables)
        return loss

    def train_step(self, data):
        x = self.images(data)
        for _ in range(self.adversary_steps - 1):
            self.adversary_step(x)
        with tf.GradientTape() as primal_tape, tf.GradientTape() as adversary_tape:
            terms = self.compute_terms(x)
            primal_loss = tf.reduce_mean(terms["reconstruction"] + terms["kl"])
            t_loss = tf.reduce_mean(adversary_loss(terms["t_q"], terms["t_p"]))
        self.apply_gradients(self.optimizer, primal_tape, primal_loss, self.primal_variables)
        self.apply_gradients(self.adversary_optimizer, adversary_tape, t_loss,
                             self.adversary.trainable_variables)
        return self.update_metrics(terms)

    def get_config(self):
        config = super().get_config()
        config.update(adaptive_contrast=self.adaptive_contrast,
                      moment_estimator=self.moment_estimator,
                      moment_samples=self.moment_samples,
                      adversary_steps=self.adversary_steps)
        return config
