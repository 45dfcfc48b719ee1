"""TensorBoard monitoring of AVB and VAE runs, usable with any `model.fit`.

    callbacks = avb_keras.callbacks.monitoring_callbacks("runs/x/logs/avb", x_valid[:64])
    model.fit(train, epochs=10, callbacks=callbacks)
    # then: tensorboard --logdir runs/x/logs

`TrainingMonitor` (scalars, gradient norms per player, histograms),
`ImagePanels` (prior samples, reconstructions, posteriors over the latent
plane) and `HParamsLogger` (the run's configuration) share one writer per
directory and write at step = `model.optimizer.iterations`.

`EmbeddingProjector` writes the posterior means of labelled images, their
labels and thumbnails for TensorBoard's Embedding Projector, in a directory
of its own (the PROJECTOR tab of the same `tensorboard` command):

    projector = avb_keras.callbacks.EmbeddingProjector("runs/x/logs/projector",
                                                       x_test[:1000], y_test[:1000])
"""

from avb_keras.callbacks.base import SummaryCallback, close_writer, summary_writer
from avb_keras.callbacks.divergence import DivergenceGuard, TrainingDiverged
from avb_keras.callbacks.hparams import HParamsLogger, model_hparams
from avb_keras.callbacks.images import ImagePanels
from avb_keras.callbacks.kl_check import KLBoundCheck, KLBoundWarning
from avb_keras.callbacks.monitor import TrainingMonitor
from avb_keras.callbacks.projector import EmbeddingProjector


def monitoring_callbacks(log_dir, data, log_every=50, hparams=None):
    """The three monitoring callbacks on one directory.

    Args:
      log_dir: their directory; beside `keras.callbacks.TensorBoard(RUN/logs)`
        use RUN/logs/avb.
      data: the fixed monitoring batch (images, `(images, labels)`, a dict or a
        `tf.data.Dataset`); labels colour the posterior panel.
      log_every: scalars and histograms every this many primal steps.
      hparams: extra run settings for the HParams dashboard.
    """
    return [HParamsLogger(log_dir, hparams), TrainingMonitor(log_dir, data, log_every),
            ImagePanels(log_dir, data)]


__all__ = ["DivergenceGuard", "EmbeddingProjector", "HParamsLogger", "ImagePanels",
           "KLBoundCheck", "KLBoundWarning", "SummaryCallback", "TrainingDiverged",
           "TrainingMonitor", "close_writer", "model_hparams", "monitoring_callbacks",
           "summary_writer"]
