"""AVB for black-box variational inference of an unnormalized posterior.

Section 3 of Mescheder et al. (2017) without a decoder (the game itself is
`models.adversarial`): the target is a fixed
unnormalized density p~(z) (a posterior p(z | data) up to its evidence), the
variational family is an implicit sampler z = f(eps), and an adversary T(z)
estimates the intractable log q(z). With Adaptive Contrast (the default) the
contrast is r(z) = N(mu, sigma^2) with the moments of q, estimated over the
minibatch of samples (stop-gradient), and z~ = (z - mu) / sigma:

    adversary:  max_T  E_{z~q} log sigmoid(T(z~)) + E_{z~~N(0,I)} log(1 - sigmoid(T(z~)))
    optimum:    T*(z~) = log q~(z~) - log N(z~; 0, I) = log q(z) - log r(z)
    primal:     max_f  E_eps[ log p~(z) - log r(z) - T(z~) ],   z = f(eps)

The primal objective estimates the ELBO E_q[log p~(z) - log q(z)] <= log Z;
it is reported as `elbo` (an estimate, since it relies on T).

Under a `tf.distribute` strategy with R replicas, `batch_size` is the global
batch: every replica draws the same global noise batch and keeps its share of
B / R rows (`distribute.replica_share`), and mu, sigma are the moments of the
global batch (sums all-reduced, `distribute.global_moments`). R replicas thus
compute the step that one device computes; the test suite checks it.

Targets live on an unconstrained space R^D. A `tfp.distributions`
distribution (for instance a `JointDistribution` with its observed values
pinned by `experimental_pin`) is mapped there by its default event-space
bijector b, as ADVI does:

    log p~_unconstrained(u) = log p~(b(u)) + log |det J_b(u)|

and `sample(n)` returns samples in the target's own (constrained) form.
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from avb_keras import contrast, distribute, networks, priors
from avb_keras.checks import int_at_least, positive_int
from avb_keras.models.adversarial import ADVERSARY_METRICS, AdversarialGame, adversary_metrics
from avb_keras.models.players import serialize

tfd = tfp.distributions


class Target:
    """An unnormalized log-density on R^D, from a distribution or a function.

    Args:
      target: a `tfd.Distribution` (a pinned `JointDistribution`, or any
        distribution with a default event-space bijector), or a callable from
        z [n, dim] to log p~(z) [n].
      dim: the size of z; required for a callable, read from a distribution.
    """

    def __init__(self, target, dim=None):
        if hasattr(target, "experimental_default_event_space_bijector"):
            # A tfp distribution, or a JointDistribution pinned to observed data.
            self.distribution = target
            self.bijector = target.experimental_default_event_space_bijector()
            self.structure = self.bijector.inverse_event_shape(target.event_shape)
            shapes = [tf.TensorShape(s) for s in tf.nest.flatten(self.structure)]
            if not all(s.is_fully_defined() for s in shapes):
                raise ValueError(f"The target's event shape must be static; got "
                                 f"{target.event_shape}.")
            self.shapes = shapes
            self.sizes = [max(1, math.prod(s.as_list())) for s in shapes]
            self.dim = sum(self.sizes)
            if dim is not None and positive_int(dim, "dim") != self.dim:
                raise ValueError(f"The target has {self.dim} unconstrained parameters, "
                                 f"but z has size dim={dim}.")
        elif callable(target):
            if dim is None:
                raise ValueError("A target given as a log-density function needs dim, the "
                                 "size of z (a positive integer); got dim=None.")
            self.distribution, self.function, self.dim = None, target, positive_int(dim, "dim")
        else:
            raise TypeError(
                f"The target must be a tfp distribution (e.g. a JointDistribution pinned "
                f"to the observed data) or a function z -> log p~(z); got {type(target)}.")

    def _unflatten(self, z):
        parts = tf.split(z, self.sizes, axis=-1)
        parts = [tf.reshape(p, tf.concat([tf.shape(z)[:-1], s], axis=0))
                 for p, s in zip(parts, self.shapes)]
        return tf.nest.pack_sequence_as(self.structure, parts)

    def log_prob(self, z):
        """log p~(z) for unconstrained z [n, dim], with the bijector's Jacobian."""
        if self.distribution is None:
            return self.function(z)
        u = self._unflatten(z)
        x = self.bijector.forward(u)
        return (self.distribution.unnormalized_log_prob(x)
                + self.bijector.forward_log_det_jacobian(u))

    def constrain(self, z):
        """Unconstrained samples [n, dim] in the target's own form."""
        if self.distribution is None:
            return z
        return self.bijector.forward(self._unflatten(z))


@keras.saving.register_keras_serializable(package="avb_keras")
class AdversarialVI(AdversarialGame):
    """Adversarial variational inference of an unnormalized posterior (no decoder).

    Args:
      sampler: a Keras model from eps [batch, noise_dim] to z [batch, dim], e.g.
        `networks.noise_sampler`.
      adversary: a Keras model from z~ [..., dim] to T [...], e.g.
        `networks.LatentAdversary`.
      target: see `Target`; may be set later (`model.target = ...`), e.g. after
        loading a saved model, since a Python function is not serialized.
      adaptive_contrast: contrast q with N(mu, Sigma) (moments of q over the
        minibatch) rather than with N(0, I): True or "diagonal" (the paper's),
        "full" (a full covariance), or False.
      adversary_steps: adversary updates per primal update (default 2, as the
        paper's toy and Eight Schools experiments).
      batch_size: samples of q per step (the paper: 512); under a strategy the
        global batch, split evenly over the replicas.
      preset, seed: recorded in the config; `seed` seeds the noise.

    Train with `fit(steps_per_epoch=N, epochs=E)` (no data needed: any dataset
    given is only a step counter), then draw `sample(n)`.
    """

    metric_names = ("loss", "elbo") + ADVERSARY_METRICS
    adversary_sees_x = False
    #: Adam(beta_1 = 0.5) rates: a faster adversary keeps T near its optimum while q
    #: moves; `tests/test_adversarial_vi.py` checks q's moments at these rates.
    learning_rates = {"optimizer": 3e-4, "adversary_optimizer": 1e-3}

    def __init__(self, sampler, adversary, target=None, adaptive_contrast=True,
                 adversary_steps=2, batch_size=512, preset=None, seed=None, **kwargs):
        super().__init__(preset=preset, seed=seed, **kwargs)
        # Layers.
        self.sampler = sampler
        self.set_adversary(adversary, adversary_steps)
        # Config.
        self.noise_dim = int(sampler.input_shape[-1])
        self.dim = int(sampler.output_shape[-1])
        self.adaptive_contrast = contrast.kind(adaptive_contrast)
        self.batch_size = int_at_least(batch_size, 2, "batch_size",
                                       " (the moments of q are estimated over it)")
        self.target = target
        self.build()

    @classmethod
    def for_target(cls, target, dim=None, hidden_units=(256, 256), noise_dim=None,
                   adversary_units=(256, 256), **kwargs):
        """A model with MLP sampler and adversary sized for `target`."""
        dim = Target(target, dim).dim
        sampler = networks.noise_sampler(dim, dim if noise_dim is None else noise_dim,
                                         hidden_units)
        adversary = networks.LatentAdversary(adversary_units, name="adversary")
        return cls(sampler, adversary, target=target, **kwargs)

    @property
    def target(self):
        """The unnormalized target (a `Target`), or None until one is set."""
        return self._target

    @target.setter
    def target(self, value):
        target = None if value is None else (
            value if isinstance(value, Target) else Target(value, self.dim))
        if target is not None and target.dim != self.dim:
            raise ValueError(f"The target has {target.dim} unconstrained parameters, but the "
                             f"sampler draws z of size {self.dim}.")
        object.__setattr__(self, "_target", target)  # a plain object: nothing to track

    def build(self, input_shape=None):
        self.adversary(self.sampler(tf.zeros((2, self.noise_dim))))
        self.built = True

    @property
    def primal_variables(self):
        """What the primal `optimizer` trains: the sampler."""
        return self.sampler.trainable_variables

    # ------------------------------------------------------------------ the math

    def noise(self, dim, n=None, seed=None):
        """N(0, I) draws [n, dim]; n = None: this replica's share of a global batch."""
        seed = self.seed_generator if seed is None else seed
        if n is not None:
            return keras.random.normal((positive_int(n, "n"), dim), seed=seed)
        return distribute.replica_share(keras.random.normal((self.batch_size, dim), seed=seed))

    def contrast_noise(self, shape, dtype):
        """z~ ~ N(0, I): this replica's share of one global draw, like the q-samples."""
        return tf.cast(self.noise(self.dim), dtype)

    def posterior_sample(self, x=None, n=None, seed=None):
        """Unconstrained samples z = f(eps) of q, and the contrast r(z).

        n = None: this replica's share of the training batch, with the moments
        of the global batch; else n samples and their own moments. `x` is
        unused (there are no data).
        """
        z = self.to_density_dtype(self.sampler(self.noise(self.noise_dim, n, seed)))
        if not self.adaptive_contrast:
            return z, priors.standard_normal(self.dim, z.dtype)
        covariance = self.adaptive_contrast
        if n is None:
            moments = distribute.global_moments(z, covariance)
        else:
            moments = contrast.moments(z, covariance)
        return z, contrast.gaussian(moments, covariance)

    def train_inputs(self, data):
        return None  # no data: the sampler draws its own noise

    def compute_terms(self, x=None):
        """elbo = log p~(z) - log r(z) - T(z~): log q(z) = log r(z) + [log q - log r], T
        estimating the bracket."""
        z, r = self.posterior_sample()
        t_q, t_p = self.adversary_logits(None, z, r)
        elbo = self._require_target().log_prob(z) - r.log_prob(z) - t_q
        return {"elbo": elbo, "t_q": t_q, "t_p": t_p}

    def primal_loss(self, terms):
        return -terms["elbo"]

    def metric_values(self, terms):
        return {"loss": -terms["elbo"], "elbo": terms["elbo"], **adversary_metrics(terms)}

    def sample(self, n, seed=None):
        """n posterior samples in the target's own form (a structure for a JointDistribution)."""
        z, _ = self.posterior_sample(n=positive_int(n, "n"), seed=seed)
        return self.target.constrain(z) if self.target is not None else z

    def call(self, eps):
        """z = f(eps), unconstrained."""
        return self.sampler(eps)

    # ------------------------------------------------------------------ training

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        return self.update_metrics(self.compute_terms())

    def fit(self, x=None, y=None, *args, steps_per_epoch=None, **kwargs):
        """Train for `epochs` x `steps_per_epoch` steps; `x`, if given, only counts steps."""
        self._require_target()
        if x is None:
            if steps_per_epoch is None:
                raise ValueError("AdversarialVI.fit needs steps_per_epoch (it draws its own "
                                 "noise; there is no data), e.g. fit(steps_per_epoch=500).")
            x = self._step_counter()
        kwargs.setdefault("shuffle", False)  # nothing to shuffle
        return super().fit(x, y, *args, steps_per_epoch=steps_per_epoch, **kwargs)

    def evaluate(self, x=None, y=None, *args, steps=None, **kwargs):
        self._require_target()
        if x is None:
            x = self._step_counter()
            steps = steps or 10
        return super().evaluate(x, y, *args, steps=steps, **kwargs)

    def _step_counter(self):
        """An endless dataset whose batches only count steps: one zero per replica, since
        a strategy splits each batch over its replicas."""
        replicas = self.distribute_strategy.num_replicas_in_sync
        return tf.data.Dataset.from_tensors(np.zeros([replicas], "float32")).repeat()

    def _require_target(self):
        if self.target is None:
            raise ValueError("This AdversarialVI has no target: set model.target to a "
                             "log-density function or a pinned tfp JointDistribution first "
                             "(targets are not saved with the model).")
        return self.target

    def get_config(self):
        config = super().get_config()
        config.update(sampler=serialize(self.sampler), adaptive_contrast=self.adaptive_contrast,
                      batch_size=self.batch_size)
        return config
