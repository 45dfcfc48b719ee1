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

The KL term splits at r (Mescheder et al. 2017, "Adaptive Contrast"; r = p
without Adaptive Contrast, where the last two terms cancel):

    KL(q(z|x) || p(z)) = E_q[ log q(z|x) - log r(z|x) ] + E_q[ log r(z|x) - log p(z) ]
    kl(x)              = T(x, z~)                     + log r(z|x) - log p(z),  z ~ q(z|x)

T estimating the first bracket (`AVB.compute_terms`).
"""

import keras
import tensorflow as tf

from avb_keras import contrast, networks, seeding
from avb_keras.contrast import TRAINING_MOMENT_SAMPLES
from avb_keras.models.adversarial import AdversarialLatentModel
from avb_keras.models.base import encoder_trunk, tile

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

    def __init__(self, encoder, decoder, adversary, likelihood="bernoulli",
                 adaptive_contrast=True, moment_estimator=None,
                 moment_samples=TRAINING_MOMENT_SAMPLES, adversary_steps=1, preset=None,
                 seed=None, **kwargs):
        super().__init__(encoder, decoder, adversary, likelihood, adversary_steps,
                         preset=preset, seed=seed, **kwargs)
        # Config.
        returns_moments = self.encoder_type == "moment"
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

    @classmethod
    def preset_arguments(cls, preset, seed, encoder_type=None, adaptive_contrast=None,
                         **overrides):
        """The encoder and the adversary T(x, z) of `preset`'s sizes.

        Args:
          encoder_type: "moment" (analytic moments) or "implicit" (a sampler only).
            Default: the preset's `encoder_type` with Adaptive Contrast,
            "implicit" without (nothing would use the moments).
          adaptive_contrast: the contrast; default the preset's.
          **overrides: constructor arguments.
        """
        if adaptive_contrast is None:
            adaptive_contrast = preset.adaptive_contrast
        encoder_type = encoder_type or (preset.encoder_type if adaptive_contrast else "implicit")
        trunk = encoder_trunk(preset)
        if encoder_type == "moment":
            encoder = networks.moment_encoder(preset.data_shape, preset.latent_dim,
                                              num_basis=preset.num_basis, seed=seed, **trunk)
        elif encoder_type == "implicit":
            encoder = networks.implicit_encoder(preset.data_shape, preset.latent_dim,
                                                noise_dim=preset.noise_dim, seed=seed, **trunk)
        else:
            raise ValueError(f"encoder_type must be 'implicit' or 'moment'; got {encoder_type!r}.")
        # With the analytic prior term +1/2 ||z~||^2 for every contrast: without it the
        # full contrast estimates a fixed KL better, but trains four_frames to -2.23
        # nats instead of -1.48 (docs/RESULTS.md, "Full-covariance Adaptive Contrast").
        hidden_units, inner_dim = preset.adversary_widths(contrast.kind(adaptive_contrast))
        adversary = networks.InnerProductAdversary(
            hidden_units=hidden_units, inner_dim=inner_dim, conv_filters=preset.conv_filters,
            name="adversary")
        return {"encoder": encoder, "adversary": adversary, "adaptive_contrast": adaptive_contrast,
                "adversary_steps": preset.adversary_steps,
                "moment_samples": preset.moment_samples, **overrides}

    @property
    def encoder_passes(self):
        """1, or 1 + K with Monte Carlo moments (z and K draws apart from it)."""
        monte_carlo = self.adaptive_contrast and self.moment_estimator == "monte_carlo"
        return 1 + self.moment_samples if monte_carlo else 1

    def compute_terms(self, x):
        """Per example, z ~ q(z|x) (the module docstring's split of the KL at r):

            reconstruction = -log p(x|z),   kl = T(x, z~) + log r(z|x) - log p(z)

        and T's logits "t_q" (on q's z~) and "t_p" (on z~ ~ N(0, I)).
        """
        z, r = self.posterior_sample(x)
        t_q, t_p = self.adversary_logits(x, z, r)
        kl = t_q + r.log_prob(z) - self.prior.log_prob(z)
        return {"reconstruction": -self.log_likelihood(x, z), "kl": kl, "t_q": t_q, "t_p": t_p}

    def posterior_sample(self, x):
        """z ~ q(z|x) and the contrast r: the moment-matched Gaussian with AC, else p(z).

        With the moment encoder, r's moments come from the noise draws of this
        batch's own rows (one encoder pass; B = 128 rows at the MNIST presets);
        `moment_matched_gaussian` (evaluation, export, monitoring) tiles a small
        batch to at least `contrast.MOMENT_SAMPLES` rows instead, since a batch of
        a few examples would give too few draws.
        """
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
