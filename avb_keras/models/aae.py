"""The adversarial autoencoder (Makhzani et al. 2016), as the AVB paper frames it.

The adversarial game of AVB with an adversary that sees z alone. A
discriminator T(z) separates encoder samples z ~ q(z|x), x ~ data, from prior
samples z ~ p(z):

    adversary:  max_T  E_{x, z~q(z|x)} log sigmoid(T(z)) + E_{z~p(z)} log(1 - sigmoid(T(z)))
    optimum:    T*(z) = log q(z) - log p(z),   q(z) = E_x q(z|x)  (the aggregate posterior)
    primal:     max_{theta, phi}  E_{x, eps}[ log p(x|z) - T(z) ],  z = f(x, eps)

So the reported `kl` is T(z), an estimate of KL(q(z) || p(z)) for the aggregate
posterior, which is at most the mean of KL(q(z|x) || p(z)) that a VAE or AVB
reports: the AAE's `elbo` is not a bound on log p(x) (Mescheder et al. 2017,
section 6). Use AIS (`avb_keras.evaluation`) to compare likelihoods.
"""

import keras

from avb_keras import networks
from avb_keras.models.adversarial import AdversarialLatentModel
from avb_keras.models.base import encoder_trunk


@keras.saving.register_keras_serializable(package="avb_keras")
class AAE(AdversarialLatentModel):
    """Adversarial autoencoder: an implicit encoder regularized by a discriminator on z.

    Args:
      encoder: a Keras model from x to z (e.g. `networks.implicit_encoder`).
      decoder: a Keras model from z to the likelihood's parameters.
      adversary: a Keras model from z to T(z), e.g. `networks.LatentAdversary`.
      likelihood: "bernoulli", "gaussian" or an `avb_keras.likelihoods.Likelihood`.
      adversary_steps: adversary updates per primal update.
      preset, seed: recorded in the config; `seed` seeds the prior samples.
    """

    adversary_sees_x = False

    def __init__(self, encoder, decoder, adversary, likelihood="bernoulli", adversary_steps=1,
                 preset=None, seed=None, **kwargs):
        super().__init__(encoder, decoder, adversary, likelihood, adversary_steps,
                         preset=preset, seed=seed, **kwargs)
        self.build()

    @classmethod
    def preset_arguments(cls, preset, seed, **overrides):
        """The implicit encoder and the adversary T(z) of `preset`'s sizes."""
        encoder = networks.implicit_encoder(preset.data_shape, preset.latent_dim,
                                            noise_dim=preset.noise_dim, seed=seed,
                                            **encoder_trunk(preset))
        adversary = networks.LatentAdversary(hidden_units=preset.adversary_widths()[0],
                                             name="adversary")
        return {"encoder": encoder, "adversary": adversary,
                "adversary_steps": preset.adversary_steps, **overrides}

    def posterior_sample(self, x):
        """z ~ q(z|x), contrasted with the prior (T on z aggregates over the batch's x)."""
        return self.encode(x), self.prior

    def compute_terms(self, x):
        """Per example: reconstruction = -log p(x|z) and kl = T(z), z ~ q(z|x).

        T(z) estimates log q(z) - log p(z) for the aggregate posterior q(z), so
        its mean estimates KL(q(z) || p(z)) (the module docstring); "t_q" and
        "t_p" are T on q's samples and on the prior's.
        """
        z, prior = self.posterior_sample(x)
        t_q, t_p = self.adversary_logits(x, z, prior)
        return {"reconstruction": -self.log_likelihood(x, z), "kl": t_q, "t_q": t_q, "t_p": t_p}
