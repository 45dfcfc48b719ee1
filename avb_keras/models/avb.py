"""Adversarial Variational Bayes (Mescheder, Nowozin and Geiger, ICML 2017).

The encoder is an implicit sampler z = f(x, eps) whose density q(z|x) is
never evaluated. The intractable part of the ELBO is estimated by an adversary
T(x, z) trained by logistic regression (the game: `models.adversarial`):

    adversary:  max_T  E_{x, z~q(z|x)} log sigmoid(T(x, z))
                     + E_{x, z~p(z)}   log(1 - sigmoid(T(x, z)))
    optimum:    T*(x, z) = log q(z|x) - log p(z)
    primal:     max_{theta, phi}  E_{x, eps}[ log p(x|z) - T(x, z) ],  z = f(x, eps)

With Adaptive Contrast (the default; see `avb_keras.contrast`) the adversary
sees z~ = L(x)^-1 (z - mu(x)) against N(0, I), and the primal objective is

    E[ log p(x|z) + log p(z) - log r(z|x) - T(x, z~) ],  r(z|x) = N(mu(x), Sigma(x)),

with Sigma diagonal as in the paper (`adaptive_contrast="diagonal"` or True)
or full (`"full"`, beyond the paper: the correlations of q's dimensions are
then r's job, not the adversary's).
"""

import keras
import tensorflow as tf

from avb_keras import contrast, seeding
from avb_keras.models.adversarial import AdversarialLatentModel
from avb_keras.models.base import TRAINING_MOMENT_SAMPLES, tile

MOMENT_ESTIMATORS = ("analytic", "monte_carlo")


@keras.saving.register_keras_serializable(package="avb_keras")
class AVB(AdversarialLatentModel):
    """AVB, with or without Adaptive Contrast.

    Args:
      encoder: a Keras model from x to z (implicit sampler), or to a dict
        {"z", "mean", "variance"[, "covariance"]} (the moment encoder).
      decoder: a Keras model from z to the likelihood's parameters.
      adversary: a Keras model from (x, z) to T(x, z), e.g.
        `avb_keras.networks.InnerProductAdversary`.
      likelihood: "bernoulli", "gaussian" or an `avb_keras.likelihoods.Likelihood`.
      adaptive_contrast: contrast q with r(z|x) = N(mu(x), Sigma(x)) rather
        than with the prior: True or "diagonal" (the paper's), "full"
        (a full covariance), or False.
      moment_estimator: how mu and Sigma are obtained: "analytic" (the
        encoder returns them; the moment encoder) or "monte_carlo" (from
        `moment_samples` encoder draws per x other than the z they
        normalize; any encoder). Default: "analytic" when the encoder
        returns moments.
      moment_samples: K for Monte Carlo moments in a training step.
      adversary_steps: adversary updates per primal update.
      preset, seed: recorded in the config; `seed` seeds the prior samples.
    """

    preset_family = "avb"

    def __init__(self, encoder, decoder, adversary, likelihood="bernoulli",
                 adaptive_contrast=True, moment_estimator=None,
                 moment_samples=TRAINING_MOMENT_SAMPLES, adversary_steps=1, preset=None,
                 seed=None, **kwargs):
        super().__init__(encoder, decoder, adversary, likelihood, adversary_steps,
                         preset=preset, seed=seed, **kwargs)
        # Config.
        returns_moments = isinstance(encoder.output, dict) and "mean" in encoder.output
        self.moment_estimator = moment_estimator or (
            "analytic" if returns_moments else "monte_carlo")
        if self.moment_estimator not in MOMENT_ESTIMATORS:
            raise ValueError(f"moment_estimator must be 'analytic' or 'monte_carlo'; "
                             f"got {moment_estimator!r}.")
        if self.moment_estimator == "analytic" and not returns_moments:
            raise ValueError("moment_estimator='analytic' needs an encoder that returns "
                             "{'z', 'mean', 'variance'} (e.g. networks.moment_encoder).")
        self.adaptive_contrast = contrast.kind(adaptive_contrast)
        self.moment_samples = self._moment_draws(moment_samples, "moment_samples")
        self.build()

    @property
    def encoder_passes(self):
        """1, or 1 + K with Monte Carlo moments (z and K draws apart from it)."""
        monte_carlo = self.adaptive_contrast and self.moment_estimator == "monte_carlo"
        return 1 + self.moment_samples if monte_carlo else 1

    def posterior_sample(self, x):
        """z ~ q(z|x) and the contrast r: the moment-matched Gaussian with AC, else p(z)."""
        if not self.adaptive_contrast:
            return self.encode(x), self.prior
        if self.moment_estimator == "analytic":
            out = self.to_density_dtype(self.encoder(x))
            return out["z"], contrast.gaussian(out, self.adaptive_contrast)
        # K draws apart from z: moments that included z would make r depend on it.
        return self.encode(x), self.moment_matched_gaussian(x, self.adaptive_contrast,
                                                            self.moment_samples)

    def moment_matched_gaussian(self, x, covariance="diagonal", num_samples=None, seed=None):
        """r(z|x); analytic for the moment encoder, else Monte Carlo (see the base class).

        The moment encoder estimates its noise statistics over the rows of its
        batch, so a batch of fewer than K = `num_samples` rows (default 256) is
        tiled to at least K rows first (at batch size 1 the variance would
        collapse).
        """
        if self.moment_estimator == "monte_carlo" or (
                covariance == "full" and "covariance" not in self.encoder.output):
            return super().moment_matched_gaussian(x, covariance, num_samples, seed)
        k = self._moment_draws(num_samples)
        batch = tf.shape(x)[0]
        with seeding.seeded(self, seed):
            out = self.to_density_dtype(self.encoder(tile(x, -(-k // batch))))
        moments = {key: value[:batch] for key, value in out.items()}
        return contrast.gaussian(moments, covariance)

    def get_config(self):
        config = super().get_config()
        config.update(adaptive_contrast=self.adaptive_contrast,
                      moment_estimator=self.moment_estimator,
                      moment_samples=self.moment_samples)
        return config
