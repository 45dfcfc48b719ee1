"""The adversarial game of AVB (Mescheder et al. 2017, Algorithm 1), written once.

A sampler draws z ~ q (z = f(x, eps), or z = f(eps) without data) and a
contrast r: the prior p(z), or with Adaptive Contrast the Gaussian with q's
moments. An adversary T is trained by logistic regression to tell the
normalized q-samples z~ = L^-1 (z - mu) from z~ ~ N(0, I):

    adversary:  max_T  E_q log sigmoid(T(z~)) + E_{z~ ~ N(0, I)} log(1 - sigmoid(T(z~)))
    optimum:    T*(z~) = log q~(z~) - log N(z~; 0, I) = log q(z) - log r(z)

so that log q(z) = log r(z) + T*(z~) and the primal player maximizes its
objective with log q replaced by that estimate, T held fixed. Each step of
Algorithm 1 updates both players from the same draws (one forward pass,
two tapes); `adversary_steps - 1` extra adversary updates on fresh draws
come first.

`AVB` and `AAE` (`AdversarialLatentModel`, T sees x or not) and
`AdversarialVI` (no decoder) configure this game: what the sampler is
(`posterior_sample`), whether T sees x (`adversary_sees_x`), and the
per-example terms (`compute_terms`, in each method's own file: the KL split
of AVB in `models.avb`, the AAE's T(z) in `models.aae`).
"""

import keras
import tensorflow as tf

from avb_keras import contrast, distribute, optimizers
from avb_keras.checks import positive_int
from avb_keras.models.base import LatentVariableModel
from avb_keras.models.players import PlayerModel, serialize, unscaled_optimizer

#: The metrics every adversarial model adds to its own.
ADVERSARY_METRICS = ("adversary_loss", "adversary_accuracy")

#: `compile`'s `offset_stability` by default ("auto"): the adversary's steps along T's
#: offset take at most half of Adam's stability threshold
#: (`AdversarialGame.limit_adversary_rate`).
OFFSET_STABILITY = 0.5


def adversary_loss(t_q, t_p):
    """Per-example logistic loss of the adversary, stable in the logits.

        -log sigmoid(T_q) - log(1 - sigmoid(T_p)) = softplus(-T_q) + softplus(T_p)
    """
    return tf.nn.softplus(-t_q) + tf.nn.softplus(t_p)


def adversary_accuracy(t_q, t_p):
    """Per-example share of the pair the adversary classifies right (T_q > 0, T_p < 0)."""
    return 0.5 * (tf.cast(t_q > 0, t_q.dtype) + tf.cast(t_p < 0, t_p.dtype))


def adversary_metrics(terms):
    """{"adversary_loss", "adversary_accuracy"} per example, from the terms' logits."""
    return {"adversary_loss": adversary_loss(terms["t_q"], terms["t_p"]),
            "adversary_accuracy": adversary_accuracy(terms["t_q"], terms["t_p"])}


class AdversarialGame(PlayerModel):
    """Two players, the primal sampler and the adversary T, as in Algorithm 1.

    A subclass provides `posterior_sample(x)` -> (z, r), `compute_terms(x)`
    (holding the logits "t_q" and "t_p"), `primal_loss(terms)`,
    `primal_variables`, `train_inputs(data)` and calls `set_adversary`.
    Not used directly.
    """

    optimizer_names = ("optimizer", "adversary_optimizer")
    #: True: T(x, z~) (AVB); False: T(z~) (AAE, AdversarialVI).
    adversary_sees_x = True

    def set_adversary(self, adversary, adversary_steps):
        """The adversary network and its updates per primal update (>= 1)."""
        self.adversary = adversary
        self.adversary_steps = positive_int(adversary_steps, "adversary_steps")

    @property
    def player_variables(self):
        """Two players, two Adam optimizers by default (beta_1 = 0.5)."""
        return {"optimizer": self.primal_variables,
                "adversary_optimizer": self.adversary.trainable_variables}

    def contrast_noise(self, shape, dtype):
        """z~ ~ N(0, I), the adversary's negative examples."""
        return keras.random.normal(shape, seed=self.seed_generator, dtype=dtype)

    def adversary_logits(self, x, z, r):
        """(T_q, T_p): T on z~ = L^-1 (z - mu) with z from q, and on z~ ~ N(0, I).

        Both halves go through T in one call (stacked on a leading axis).
        """
        z_tilde = contrast.normalize(z, r)
        pair = tf.stack([z_tilde, self.contrast_noise(tf.shape(z_tilde), z_tilde.dtype)])
        logits = self.adversary((x, pair) if self.adversary_sees_x else pair)
        t_q, t_p = tf.unstack(self.to_density_dtype(logits))
        return t_q, t_p

    def adversary_step(self, x):
        """One update of T alone, on fresh draws; returns its mean loss."""
        z, r = self.posterior_sample(x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(adversary_loss(*self.adversary_logits(x, z, r)))
        self.apply_gradients(self.adversary_optimizer, tape, loss,
                             self.adversary.trainable_variables)
        return loss

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        """Algorithm 1: both players step on the same draws, T held fixed for the primal.

            primal:     min  E[ primal_loss ]              (log q replaced by log r + T)
            adversary:  min  E[ softplus(-T_q) + softplus(T_p) ]
        """
        x = self.train_inputs(data)
        for _ in range(self.adversary_steps - 1):
            self.adversary_step(x)
        limited = self.offset_stability is not None
        with tf.GradientTape() as primal_tape, \
                tf.GradientTape(persistent=limited) as adversary_tape:
            terms = self.compute_terms(x)
            primal_loss = tf.reduce_mean(self.primal_loss(terms))
            t_loss = tf.reduce_mean(adversary_loss(terms["t_q"], terms["t_p"]))
            t_offset = (tf.reduce_mean(terms["t_q"]) + tf.reduce_mean(terms["t_p"])) / 2.0
        self.record_logit_health(terms["t_q"], terms["t_p"], t_offset)
        if limited:
            self.limit_adversary_rate(adversary_tape, t_offset)
        self.apply_gradients(self.optimizer, primal_tape, primal_loss, self.primal_variables)
        self.apply_gradients(self.adversary_optimizer, adversary_tape, t_loss,
                             self.adversary.trainable_variables)
        return self.update_metrics(terms)

    def metric_values(self, terms):
        return {**super().metric_values(terms), **adversary_metrics(terms)}

    def compile(self, *args, offset_stability="auto", **kwargs):
        """`PlayerModel.compile`, and the limit on the adversary's rate along T's offset.

        Args:
          offset_stability: the largest share of its Adam's stability threshold that the
            adversary's step may take along T's offset (`limit_adversary_rate`), or None
            for no limit. It needs the adversary's optimizer to be
            `avb_keras.optimizers.Adam` (the default); "auto" (the default) is
            OFFSET_STABILITY with that optimizer and no limit with another, where an
            explicit value is an error.
        """
        explicit = offset_stability != "auto"
        if not explicit:
            offset_stability = OFFSET_STABILITY
        if offset_stability is not None and not 0.0 < float(offset_stability) <= 1.0:
            raise ValueError(f"offset_stability must be in (0, 1] (a share of Adam's "
                             f"stability threshold) or None; got {offset_stability!r}.")
        given = kwargs.get("adversary_optimizer")
        if offset_stability is not None and given is not None and not isinstance(
                unscaled_optimizer(keras.optimizers.get(given)), optimizers.Adam):
            if explicit:
                raise ValueError("offset_stability needs avb_keras.optimizers.Adam as the "
                                 f"adversary's optimizer; got {type(given).__name__}.")
            offset_stability = None
        self.offset_stability = None if offset_stability is None else float(offset_stability)
        super().compile(*args, **kwargs)
        if self.offset_stability is not None:
            self._health.rate_factor = tf.Variable(
                1.0, trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            unscaled_optimizer(self.adversary_optimizer).rate_factor = optimizers.RateFactor(
                self._health.rate_factor)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and self.compiled:
            config["offset_stability"] = self.offset_stability
        return config

    def limit_adversary_rate(self, tape, t_offset):
        """Keeps the adversary's Adam inside its stability region along T's offset.

        A shift of every logit by delta changes the adversary's loss with curvature

            c = mean sigma'(T_q) + mean sigma'(T_p)  <=  1/2     (= 1/2 at T = 0),

        and Adam's next step sees the worst of it as the preconditioned curvature

            K = lr (1/2) sum_w (d offset / d w)^2 / (sqrt(v_hat_w) + eps),

        offset = (mean T_q + mean T_p) / 2 (`optimizers.Adam.preconditioned_curvature`).
        Past K = 2 (1 + beta_1) / (1 - beta_1), the offset oscillates from step to step
        with growing amplitude. That is how AVB with Adaptive Contrast blew up at rate
        1e-3 (docs/RESULTS.md, "Why Adaptive Contrast blew up"): near the optimum T is
        about 0, where the logistic loss curves most, and Adam's whole-size steps move
        the offset through every weight at once; the offset swung by up to a nat for a
        thousand steps with K at 1.3 to 1.6 times the threshold, then, as the swinging
        weights made T more sensitive to themselves, K rose to 370 times it in four
        steps and T jumped to thousands of nats, which wrecked the encoder. Here the
        adversary's rate is scaled by min(1, offset_stability * threshold / K) before
        each step, so that its step takes at most that share of the threshold along the
        offset, wherever T is;
        at the paper's rates K is far below it and nothing changes. `health()` reports
        K / threshold (before the limit) as adversary/offset_sharpness.
        """
        optimizer = unscaled_optimizer(self.adversary_optimizer)
        variables = self.adversary.trainable_variables
        direction = tape.gradient(t_offset, variables)
        sharpness = distribute.replica_sum(optimizer.preconditioned_curvature(
            direction, variables, curvature=0.5) / optimizer.stability_threshold()
        ) / distribute.num_replicas()
        self.record_peak("adversary/offset_sharpness", sharpness)
        self._health.rate_factor.assign(tf.minimum(
            1.0, self.offset_stability / tf.maximum(sharpness, 1e-12)))

    @property
    def health_names(self):
        """Besides the gradient norms: the largest |T| and |offset of T| of a step, and,
        with `offset_stability`, the adversary's sharpness along T's offset."""
        names = super().health_names + ("adversary/logit_peak", "adversary/logit_offset")
        if getattr(self, "offset_stability", None) is not None:
            names += ("adversary/offset_sharpness",)
        return names

    def record_logit_health(self, t_q, t_p, t_offset):
        """Peaks of max |T| over both halves and of |t_offset|, the offset
        (mean T_q + mean T_p) / 2.

        The offset is what T adds to every input alike; its swings from step to step
        are how the adversary's instability begins (docs/RESULTS.md).
        """
        self.record_peak("adversary/logit_peak",
                         tf.maximum(tf.reduce_max(tf.abs(t_q)), tf.reduce_max(tf.abs(t_p))))
        self.record_peak("adversary/logit_offset", tf.abs(t_offset))

    def get_config(self):
        config = super().get_config()
        config.update(adversary=serialize(self.adversary), adversary_steps=self.adversary_steps)
        return config


class AdversarialLatentModel(AdversarialGame, LatentVariableModel):
    """A generative model whose KL term is estimated by the adversary (AVB, AAE).

    A subclass gives `compute_terms(x)`: "reconstruction" = -log p(x|z) and the
    adversary's "kl", with the logits "t_q" and "t_p". Not used directly.
    """

    metric_names = LatentVariableModel.metric_names + ADVERSARY_METRICS
    learning_rates = {"optimizer": 5e-5, "adversary_optimizer": 1e-4}

    def __init__(self, encoder, decoder, adversary, likelihood="bernoulli", adversary_steps=1,
                 **kwargs):
        super().__init__(encoder, decoder, likelihood, **kwargs)
        self.set_adversary(adversary, adversary_steps)

    def train_inputs(self, data):
        return self.images(data)
