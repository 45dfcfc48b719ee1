"""Training that improves with more steps: learning-rate schedules and weight averaging.

A constant rate stops improving once the noise of its updates dominates; a
cosine decay (optionally after a linear warm-up) anneals it,

    lr(t) = lr_0 * (1 + cos(pi * min(t - w, T) / T)) / 2      for t >= w,
    lr(t) = lr_0 * t / w                                       for t <  w (warm-up),

and an exponential moving average of the primal player's weights,

    theta_avg <- m * theta_avg + (1 - m) * theta    after every update,

smooths what remains (Keras optimizers' `use_ema`; the players' `Adam` warms m up
over the first steps, `Adam._update_model_variables_moving_average`). The averaged weights are
the ones a model evaluates, saves and exports after `fit` (Keras overwrites the
weights with their averages at the end of `fit`; validation during `fit` uses
them too, see `PlayerModel.fit`), while checkpoints keep the raw weights and
the averages (optimizer state), so that a resumed run continues exactly.

`Adam`, the players' default, is Keras's Adam with one fused kernel per variable:
Keras's Adam (Kingma and Ba 2015) updates each variable with about a dozen
element-wise TensorFlow ops,

    alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m    += (g - m) (1 - beta_1)
    v    += (g^2 - v) (1 - beta_2)
    var  -= alpha m / (sqrt(v) + epsilon),

each a pass over the variable's memory. On a CPU that is a large share of a
training step here (about a third of the `mnist_mlp` AVB+AC step's op time:
docs/PERFORMANCE.md). TensorFlow's `ResourceApplyAdam` kernel computes the same
formula, in the same order of operations, in one multi-threaded kernel.

`Adam` is `keras.optimizers.Adam` with that kernel on the TensorFlow backend:
the same arguments, state, learning-rate schedules, clipping, weight decay,
loss scaling and moving averages (Keras applies those outside `update_step`).
With `amsgrad`, for sparse gradients or on another backend it falls back to
Keras's update. The results agree with Keras's Adam to float32 rounding
(tests/test_optimizers.py).
"""

import contextlib

import keras
import tensorflow as tf

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


def averaged_primal(model):
    """`averaged` over `model`'s primal weights, by its primal optimizer (nothing to
    swap before the model is compiled). What validation, the epoch's TensorBoard images
    and the Embedding Projector see: the weights the run saves and exports."""
    if getattr(model, "optimizer", None) is None:
        return contextlib.nullcontext()
    return averaged(model.optimizer, model.player_variables["optimizer"])


class AveragedValidation(keras.callbacks.Callback):
    """Validation inside `fit` sees the averaged weights, training the raw ones."""

    def __init__(self, model):
        super().__init__()
        self._player_model = model
        self._block = None

    def on_test_begin(self, logs=None):
        self._block = averaged_primal(self._player_model)
        self._block.__enter__()

    def on_test_end(self, logs=None):
        if self._block is not None:
            self._block.__exit__(None, None, None)
            self._block = None


@keras.saving.register_keras_serializable(package="avb_keras")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose update is TensorFlow's fused Adam kernel.

    With `update_clipping=d`, each variable's rate is divided by max(1, RMS_t / d),

        RMS_t = sqrt(mean(g_t^2 / v_hat_t)),   v_hat_t = v_t / (1 - beta_2^t),

    the root mean square of the normalized gradient of the variable (Adafactor's update
    clipping, Shazeer and Stern 2018; "StableAdamW", Wortsman et al. 2023). RMS_t is
    about 1 while the gradients are as large as the second moment v remembers (at most
    1.11 over 200 steps of steady noise, tests/test_optimizers.py, so d = 2 leaves them
    alone and d = 1 trims them a little); it rises to at most 1 / sqrt(1 - beta_2) when a gradient many times larger than its recent
    past meets a v that has not caught up, exactly when Adam's steps become whole-size,
    sign-like steps in one coherent direction. The clipped step keeps Adam's direction
    and bounds its size by what the variable's own recent gradients justify.
    """

    def __init__(self, *args, update_clipping=None, **kwargs):
        super().__init__(*args, **kwargs)
        if update_clipping is not None and not float(update_clipping) > 0:
            raise ValueError(f"update_clipping must be a positive number (the largest RMS "
                             f"of the normalized gradient before the rate is scaled "
                             f"down, e.g. 1.0) or None; got {update_clipping!r}.")
        self.update_clipping = None if update_clipping is None else float(update_clipping)
        #: A `RateFactor` on the rate, set by the model that limits it, or None.
        self.rate_factor = None

    def get_config(self):
        return {**super().get_config(), "update_clipping": self.update_clipping}

    def stability_threshold(self):
        """2 (1 + beta_1) / (1 - beta_1): the largest rate-times-curvature along one
        direction at which Adam's steps do not oscillate with growing amplitude (period 2;
        gradient descent's 2, raised by the momentum; Cohen et al. 2022)."""
        return 2.0 * (1.0 + self.beta_1) / (1.0 - self.beta_1)

    def preconditioned_curvature(self, direction, variables, curvature):
        """lr_t c sum_w d_w^2 / (sqrt(v_hat_w) + epsilon): the curvature c of a loss along
        the parameter direction d (a gradient, one tensor per variable), as this Adam's
        next step sees it (its rate and second moments v_hat = v / (1 - beta_2^t)).

        Compared with `stability_threshold`, it says whether that step overshoots along
        d. Before the first update (no second moments yet) it is 0.
        """
        step = tf.cast(self.iterations, tf.float32)
        correction = 1.0 - tf.pow(tf.cast(self.beta_2, tf.float32), tf.maximum(step, 1.0))
        total = tf.add_n([tf.reduce_sum(tf.square(tf.cast(d, tf.float32)) / (
            tf.sqrt(tf.cast(self._velocities[self._get_variable_index(v)], tf.float32)
                    / correction) + self.epsilon))
            for d, v in zip(direction, variables)])
        rate = tf.cast(self.learning_rate, tf.float32)
        return tf.where(step > 0, rate * tf.cast(curvature, tf.float32) * total, 0.0)

    def _update_model_variables_moving_average(self, trainable_variables):
        """The moving average with a warm-up: after update t (0, 1, ...),

            theta_avg <- m_t theta_avg + (1 - m_t) theta,   m_t = min(m, t / (t + 9)),

        so that the average spans about the last tenth of the steps until that reaches
        1 / (1 - m) (TensorFlow's `ExponentialMovingAverage(num_updates=...)` rule).
        Keras's own (m_0 = 0, then m) keeps the first weights' share m^t: 8% of the
        average after 2520 steps at m = 0.999, a model mixed with its initialization.
        """
        if not self.use_ema:
            return
        step = tf.cast(self.iterations, tf.float32)
        momentum = tf.minimum(tf.cast(self.ema_momentum, tf.float32), step / (step + 9.0))
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                m = tf.cast(momentum, variable.dtype)
                average.assign(m * average + (1.0 - m) * variable)

    def update_step(self, gradient, variable, learning_rate):
        if (self.amsgrad or isinstance(gradient, tf.IndexedSlices)
                or keras.backend.backend() != "tensorflow"):
            if self.update_clipping is not None or self.rate_factor is not None:
                raise ValueError("update_clipping and a rate factor need the TensorFlow "
                                 "backend, dense gradients and amsgrad=False.")
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        learning_rate = tf.cast(learning_rate, dtype)
        if self.rate_factor is not None:
            learning_rate *= tf.cast(self.rate_factor.value, dtype)
        if self.update_clipping is not None:
            gradient = tf.cast(gradient, dtype)
            v_hat = ((beta_2 * self._velocities[index] + (1.0 - beta_2) * tf.square(gradient))
                     / (1.0 - tf.pow(beta_2, step)))
            rms = tf.sqrt(tf.reduce_mean(tf.square(gradient) / tf.maximum(
                v_hat, tf.cast(self.epsilon, dtype) ** 2)))
            learning_rate /= tf.maximum(1.0, rms / self.update_clipping)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=learning_rate, beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


#: Adam's beta_1 for every player, as the authors used for both players.
PLAYER_BETA_1 = 0.5


def player_adam(learning_rate):
    """`Adam(learning_rate, beta_1 = PLAYER_BETA_1)`: the optimizer of every player."""
    return Adam(learning_rate=learning_rate, beta_1=PLAYER_BETA_1)


class RateFactor:
    """A factor on an `Adam`'s rate (`adam.rate_factor = RateFactor(variable)`): a plain
    holder, so that the variable is neither saved with the optimizer nor tracked by it."""

    def __init__(self, value):
        self.value = value


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable (this device's copy)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle
