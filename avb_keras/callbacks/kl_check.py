"""Warn when an adversary's KL estimate falls below an adversary-free lower bound.

For any density r, KL(q(z|x) || p(z)) >= E_q[log r(z|x) - log p(z)]
(`evaluation.kl_lower_bound`, r the full-covariance Gaussian with q's moments).
An adversary that reports less than this is wrong, the model's ELBO estimate is
then optimistic by at least the difference, and the encoder is not charged for
what the adversary misses. `KLBoundCheck` compares the two on a fixed batch
after every epoch and warns once, naming both numbers and the remedy.
"""

import warnings

import keras
import numpy as np

from avb_keras.callbacks.base import monitoring_batch
from avb_keras.checks import positive_int
from avb_keras.contrast import MONITOR_MOMENT_SAMPLES
from avb_keras.evaluation.kl_bound import kl_lower_bound
from avb_keras.seeding import unchanged_random_state

REMEDY = ("Remedies: Adaptive Contrast (adaptive_contrast=True, or 'full' when the "
          "latent dimensions are correlated), more adversary steps per primal step "
          "(adversary_steps), a higher adversary learning rate, or a larger adversary. "
          "Compare models by AIS (evaluation.ais_log_likelihood), not by this ELBO.")


class KLBoundWarning(UserWarning):
    """An adversary's KL estimate is below the adversary-free lower bound."""


class KLBoundCheck(keras.callbacks.Callback):
    """Warns once when mean kl(x) < mean kl_lower_bound(x) - `margin` on a fixed batch.

    Args:
      data: the fixed batch (images, `(images, labels)`, a dict or a dataset).
      margin: nats per example the estimate may fall below the bound before a
        warning: the Monte Carlo error of both means on 64 images is a few
        tenths of a nat (one adversary draw per image), so 1.0 flags real gaps.
      num_samples: K, draws that fit r and again that evaluate it.
      batch_size: at most this many examples of `data` are used.
      seed: seeds the bound's draws (the model's own streams are left alone).

    After each epoch `self.history` gets (epoch, estimate, bound).
    """

    def __init__(self, data, margin=1.0, num_samples=MONITOR_MOMENT_SAMPLES, batch_size=64,
                 seed=0):
        super().__init__()
        self.x, _ = monitoring_batch(data, positive_int(batch_size, "batch_size"))
        self.margin = float(margin)
        self.num_samples = positive_int(num_samples, "num_samples")
        self.seed = int(seed)
        self.history = []
        self.warned = False

    def check(self):
        """(mean KL estimate, mean lower bound) on the fixed batch."""
        with unchanged_random_state(self.model):
            estimate = float(np.mean(self.model.compute_terms(self.model.images(self.x))["kl"]))
        bound = float(np.mean(kl_lower_bound(self.model, self.x, self.num_samples,
                                             seed=self.seed).kl_lower_bound))
        return estimate, bound

    def on_epoch_end(self, epoch, logs=None):
        estimate, bound = self.check()
        self.history.append((epoch, estimate, bound))
        if estimate < bound - self.margin and not self.warned:
            self.warned = True
            warnings.warn(
                f"After epoch {epoch + 1} the model's KL estimate is {estimate:.2f} nats per "
                f"example, below the adversary-free lower bound {bound:.2f} (by "
                f"{bound - estimate:.2f} > margin {self.margin:g}): the adversary "
                f"underestimates KL(q(z|x) || p(z)) and the reported ELBO is optimistic. "
                f"{REMEDY}", KLBoundWarning, stacklevel=2)
