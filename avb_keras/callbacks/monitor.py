"""Scalars and histograms that show how the players of a run are doing.

Every `log_every` primal steps (and at each epoch's end) `TrainingMonitor`
writes, at step = `model.optimizer.iterations`:

    metrics/<name>          the model's running metrics of this epoch (fit's logs)
    learning_rate/<player>  the current rate of each optimizer (schedules evaluated)

and, on a fixed monitoring batch x, with the model's own formulas:

    gradient_norm/primal     || d/d(theta, phi) mean(-elbo(x)) ||_2
    gradient_norm/adversary  || d/d psi mean(softplus(-T_q) + softplus(T_p)) ||_2
    adversary/logit_q_mean   mean T(x, z~),  z ~ q(z|x)     (-> KL(q || r) at the optimum)
    adversary/logit_prior_mean  mean T(x, z~), z~ ~ N(0, I)
    adversary/separation     logit_q_mean - logit_prior_mean
    posterior/mu_mean, posterior/mu_std, posterior/sigma_mean
                             the moments of q(z|x): mean of mu(x), its spread over x,
                             mean of sigma(x) (a collapsed posterior has mu_std -> 0,
                             sigma_mean -> 1)
    kl/estimate              mean kl(x): the model's KL (for AVB the adversary's estimate)
    kl/lower_bound           mean E_q[log r_full - log p], an adversary-free lower bound on
                             the KL (`evaluation.kl_lower_bound`, K = 64 draws): an
                             estimate below it is wrong by at least the difference

and, from the training steps themselves, the largest value of each since the last
write (`model.health()`; a spike between two writes is not missed):

    health/gradient_norm/<player>   || gradient of the player's batch loss ||_2
    health/adversary/logit_peak     max |T| over the step's q- and N(0, I)-halves
    health/adversary/logit_offset   |mean T_q + mean T_p| / 2, what T adds to every input
    health/adversary/offset_sharpness   the adversary Adam's curvature along that offset
                                    over its stability threshold, before the rate limit
                                    (`AdversarialGame.limit_adversary_rate`)

A run going bad shows here first: the adversary's offset swinging by more than a nat
between writes, then both gradient norms jumping by orders of magnitude (docs/RESULTS.md, "Why
Adaptive Contrast blew up").
    histograms latent/z, adversary/logits_q, adversary/logits_prior,
               posterior/mu, posterior/sigma

With Keras's `steps_per_execution` = n, fit calls the batch callbacks once
per n steps; `log_every` should then be a multiple of n (`avb-keras train`
picks n so), else each write falls at the end of the first call past a
multiple of `log_every` (a warning says so).

At each epoch's end it also writes `epoch/<name>` for every entry of fit's
epoch logs (training and `val_` metrics). Adversary entries appear for AVB
only. The moments are those of the model's full-covariance `moment_matched_gaussian`
from K = 64 draws (exact for the VAE, analytic for the moment encoder, Monte
Carlo otherwise).
"""

import warnings

import numpy as np
import tensorflow as tf

from avb_keras.checks import positive_int
from avb_keras.contrast import MONITOR_MOMENT_SAMPLES
from avb_keras.callbacks.base import (SummaryCallback, monitoring_batch,
                                      unchanged_random_state)
from avb_keras.evaluation.kl_bound import bound_terms
from avb_keras.models.players import player_of


def current_learning_rate(optimizer):
    """The rate the optimizer's next update uses (a schedule evaluated at its step)."""
    return float(np.asarray(optimizer.learning_rate))



class TrainingMonitor(SummaryCallback):
    """Scalars and histograms of a run; see the module docstring for the tags.

    Args:
      log_dir: where the summaries go (one writer per directory).
      data: the fixed monitoring batch: images, `(images, labels)`, a dict or a
        `tf.data.Dataset` (its first batch).
      log_every: write every this many primal steps (and at each epoch's end).
      batch_size: at most this many monitoring examples are used.
    """

    def __init__(self, log_dir, data, log_every=50, batch_size=64):
        super().__init__(log_dir)
        self.log_every = positive_int(log_every, "log_every")
        self.x, _ = monitoring_batch(data, positive_int(batch_size, "batch_size"))
        self._last_step = None
        self._probe = self._probe_model = None

    def set_model(self, model):
        super().set_model(model)
        self.x = np.asarray(model.images(self.x))  # a wrong shape fails before training
        if self._probe_model is not model:  # traced once per model
            self._probe, self._probe_model = None, model

    def players(self):
        """{player: (metric whose batch mean is its loss, its variables)}."""
        return {player_of(name): ("loss" if name == "optimizer" else f"{player_of(name)}_loss",
                                    variables)
                for name, variables in self.model.player_variables.items()}

    def probe(self):
        """Scalars and histograms on the monitoring batch (the model's formulas)."""
        if self._probe is None:  # a graph: several times faster than eager after one trace
            self._probe = tf.function(self._probe_tensors, autograph=False)
        strategy = self.model.distribute_strategy
        with unchanged_random_state(self.model):
            if strategy.num_replicas_in_sync == 1:
                scalars, histograms = self._probe(tf.constant(self.x))
            else:
                # Gradients of distributed variables need a replica context; the probe
                # has no collective ops, so it may run on one worker (the chief) alone.
                results = strategy.run(self._probe, args=(tf.constant(self.x),))
                scalars, histograms = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], results)
        for name in self.model.optimizer_names:
            scalars[f"learning_rate/{player_of(name)}"] = current_learning_rate(
                getattr(self.model, name))
        return scalars, histograms

    def _probe_tensors(self, x):
        model = self.model
        with tf.GradientTape(persistent=True) as tape:
            terms = model.compute_terms(x)
            values = model.metric_values(terms)
            losses = {p: tf.reduce_mean(values[key]) for p, (key, _) in self.players().items()}
        scalars = {f"gradient_norm/{p}": tf.linalg.global_norm(tape.gradient(losses[p], v))
                   for p, (_, v) in self.players().items()}
        del tape
        r = model.moment_matched_gaussian(x, "full", MONITOR_MOMENT_SAMPLES)
        mu, sigma = r.mean(), r.stddev()
        histograms = {"latent/z": model.encode(x), "posterior/mu": mu, "posterior/sigma": sigma}
        scalars.update({"posterior/mu_mean": tf.reduce_mean(mu),
                        "posterior/mu_std": tf.reduce_mean(tf.math.reduce_std(mu, axis=0)),
                        "posterior/sigma_mean": tf.reduce_mean(sigma),
                        "kl/estimate": tf.reduce_mean(terms["kl"]),
                        "kl/lower_bound": tf.reduce_mean(
                            bound_terms(model, x, r, MONITOR_MOMENT_SAMPLES))})
        if model.adversary is not None:  # its terms hold T's logits "t_q" and "t_p"
            t_q, t_p = tf.reduce_mean(terms["t_q"]), tf.reduce_mean(terms["t_p"])
            scalars.update({"adversary/logit_q_mean": t_q, "adversary/logit_prior_mean": t_p,
                            "adversary/separation": t_q - t_p})
            histograms.update({"adversary/logits_q": terms["t_q"],
                               "adversary/logits_prior": terms["t_p"]})
        return scalars, histograms

    def write(self, step, logs):
        """The probe's summaries and fit's batch `logs` (as metrics/<name>) at `step`."""
        scalars, histograms = self.probe()
        scalars.update({f"health/{k}": v for k, v in self.model.health().items()})
        scalars.update({f"metrics/{k}": v for k, v in (logs or {}).items() if np.ndim(v) == 0})
        with self.writer.as_default(step=step):
            for tag, value in scalars.items():
                tf.summary.scalar(tag, value)
            for tag, value in histograms.items():
                tf.summary.histogram(tag, value)
        self._last_step = step

    def on_train_begin(self, logs=None):
        per_call = self.model.steps_per_execution
        if self.log_every % per_call:
            warnings.warn(f"TrainingMonitor writes every {self.log_every} steps, but fit runs "
                          f"{per_call} steps per call (steps_per_execution) and calls back "
                          f"once per call: each write falls at the end of the first call past "
                          f"a multiple of {self.log_every}. Give a log_every that is a "
                          f"multiple of {per_call} for exact steps.", stacklevel=2)

    def on_train_batch_end(self, batch, logs=None):
        step = self.step
        last = self._last_step if self._last_step is not None else step - 1
        if step // self.log_every > last // self.log_every:
            self.write(step, logs)

    def on_epoch_end(self, epoch, logs=None):
        step = self.step
        logs = dict(logs or {})
        if step != self._last_step:
            self.write(step, {})  # the probe at least once an epoch
        with self.writer.as_default(step=step):
            for name, value in logs.items():
                if np.ndim(value) == 0:
                    tf.summary.scalar(f"epoch/{name}", value)
        self.writer.flush()
