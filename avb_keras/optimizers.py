"""Training that improves with more steps: learning-rate schedules and weight averaging.

A constant rate stops improving once the noise of its updates dominates; a
cosine decay (optionally after a linear warm-up) anneals it,

    lr(t) = lr_0 * (1 + cos(pi * min(t - w, T) / T)) / 2      for t >= w,
    lr(t) = lr_0 * t / w                                       for t <  w (warm-up),

and an exponential moving average of the primal player's weights,

    theta_avg <- m * theta_avg + (1 - m) * theta    after every update,

smooths what remains (Keras optimizers' `use_ema`). The averaged weights are
the ones a model evaluates, saves and exports after `fit` (Keras overwrites the
weights with their averages at the end of `fit`; validation during `fit` uses
them too, see `PlayerModel.fit`), while checkpoints keep the raw weights and
the averages (optimizer state), so that a resumed run continues exactly.
"""

import contextlib

import keras

#: The schedules `compile(lr_schedule=...)` knows.
SCHEDULES = ("constant", "cosine")


def with_schedule(optimizer, schedule, decay_steps=None, warmup_steps=0):
    """`optimizer` rebuilt with its rate lr_0 under `schedule` ("constant" or "cosine").

    Args:
      decay_steps: T, the updates over which the cosine falls to 0 (after the warm-up).
      warmup_steps: w, updates of linear warm-up from 0 to lr_0.
    """
    if schedule in (None, "constant"):
        return optimizer
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {SCHEDULES}; got {schedule!r}.")
    if decay_steps is None or int(decay_steps) < 1:
        raise ValueError(f"A cosine schedule needs decay_steps, the number of updates it "
                         f"decays over (a positive integer); got {decay_steps!r}.")
    if int(warmup_steps) < 0:
        raise ValueError(f"warmup_steps must be >= 0; got {warmup_steps!r}.")
    config = optimizer.get_config()
    rate = config["learning_rate"]
    if isinstance(rate, dict):
        raise ValueError("This optimizer already has a learning-rate schedule; give a "
                         "constant rate to schedule it with lr_schedule.")
    warmup = int(warmup_steps)
    config["learning_rate"] = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else float(rate), decay_steps=int(decay_steps),
        warmup_target=float(rate) if warmup else None, warmup_steps=warmup)
    return type(optimizer).from_config(config)


def with_average(optimizer, momentum):
    """`optimizer` that also keeps the moving average of what it trains (momentum m)."""
    if momentum is None:
        return optimizer
    if not 0.0 < float(momentum) < 1.0:
        raise ValueError(f"ema (the averaging momentum) must be in (0, 1), e.g. 0.999; "
                         f"got {momentum!r}.")
    config = optimizer.get_config()
    config.update(use_ema=True, ema_momentum=float(momentum), ema_overwrite_frequency=None)
    return type(optimizer).from_config(config)


def uses_average(optimizer):
    """Whether `optimizer` (or a LossScaleOptimizer's inner one) keeps moving averages."""
    return bool(getattr(optimizer, "inner_optimizer", optimizer).use_ema)


@contextlib.contextmanager
def averaged(optimizer, variables):
    """Inside the block `variables` hold their moving averages; afterwards their own values.

    Uses `finalize_variable_values`, the optimizer's public way to write the
    averages into the variables. Eager only.
    """
    if not uses_average(optimizer):
        yield
        return
    saved = [v.numpy() for v in variables]
    optimizer.finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


class AveragedValidation(keras.callbacks.Callback):
    """Validation inside `fit` sees the averaged weights, training the raw ones."""

    def __init__(self, model):
        super().__init__()
        self._player_model = model
        self._block = None

    def on_test_begin(self, logs=None):
        model = self._player_model
        self._block = averaged(model.optimizer, model.player_variables["optimizer"])
        self._block.__enter__()

    def on_test_end(self, logs=None):
        if self._block is not None:
            self._block.__exit__(None, None, None)
            self._block = None
