"""The run's configuration for TensorBoard's HParams dashboard.

At the start of training `HParamsLogger` records the model's scalar settings
(class, preset, latent size, likelihood, Adaptive Contrast and its moment
estimator, adversary steps, seed), each optimizer's class, learning rate and
beta_1, and any extra values given (batch size, data set, ...). The metrics
column of the dashboard shows `epoch/<name>` and `epoch/val_<name>` as written
by `TrainingMonitor` in the same directory, so runs compare side by side.
"""

import numbers

from tensorboard.plugins.hparams import api as hp

from avb_keras.callbacks.base import SummaryCallback
from avb_keras.models.players import player_of

#: Config entries that say nothing about the experiment.
_SKIPPED = ("name", "trainable", "dtype")


def _value(value):
    """A value the HParams plugin accepts: bool, number or string."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Number):
        return float(value) if isinstance(value, numbers.Real) and not isinstance(
            value, numbers.Integral) else int(value)
    return "none" if value is None else str(value)


def learning_rate_setting(optimizer):
    """The configured rate: a number, or a schedule's name and initial rate."""
    rate = optimizer.get_config()["learning_rate"]
    if isinstance(rate, dict):  # a serialized schedule
        initial = rate["config"].get("initial_learning_rate")
        return rate["class_name"] + ("" if initial is None else f"({initial:g})")
    return float(rate)


def model_hparams(model):
    """{name: value} describing `model` and its optimizers."""
    values = {"model": type(model).__name__, "latent_dim": model.latent_dim,
              "likelihood": type(model.likelihood).__name__}
    for key, value in model.get_config().items():
        if key not in _SKIPPED and (value is None or isinstance(value, (bool, str, numbers.Number))):
            values[key] = value
    for name in model.optimizer_names:
        optimizer = getattr(model, name, None)
        if optimizer is None:
            continue
        player = player_of(name)
        values[f"{player}_optimizer"] = type(optimizer).__name__
        values[f"{player}_learning_rate"] = learning_rate_setting(optimizer)
        if hasattr(optimizer, "beta_1"):
            values[f"{player}_beta_1"] = float(optimizer.beta_1)
    return {k: _value(v) for k, v in values.items()}


class HParamsLogger(SummaryCallback):
    """Writes the HParams config and this run's values when training begins.

    Args:
      log_dir: the run's summary directory (that of `TrainingMonitor`).
      hparams: extra {name: value} to record (e.g. batch_size, dataset, epochs).
    """

    def __init__(self, log_dir, hparams=None):
        super().__init__(log_dir)
        self.extra = {k: _value(v) for k, v in dict(hparams or {}).items()}

    def hparams(self):
        return {**model_hparams(self.model), **self.extra}

    def on_train_begin(self, logs=None):
        values = self.hparams()
        names = [n for n in self.model.metric_names]
        metrics = ([hp.Metric(f"epoch/{n}", display_name=n) for n in names]
                   + [hp.Metric(f"epoch/val_{n}", display_name=f"val_{n}") for n in names])
        with self.writer.as_default(step=self.step):
            hp.hparams_config(hparams=[hp.HParam(k) for k in values], metrics=metrics)
            hp.hparams(values, trial_id=self.log_dir)
        self.writer.flush()
