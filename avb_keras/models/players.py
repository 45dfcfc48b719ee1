"""The plumbing of every model trained here: one optimizer per player.

A model of this package is a game between players (the primal encoder and
decoder, an adversary), each with its own optimizer and loss. `PlayerModel`
holds what that needs, whatever the model: the metric trackers, the
optimizers (compile, build, clipping, loss scaling for mixed precision, their
serialization), replica-aware gradient steps that count non-finite updates,
and the dtype of densities under a mixed policy (networks compute in 16 bits,
densities and losses stay in the variables' float32).
"""

import keras
import tensorflow as tf

from avb_keras import distribute, optimizers, presets


class PlayerModel(keras.Model):
    """A Keras model trained by one optimizer per player (primal, adversary, ...).

    Holds what every trained model here shares, whatever it models: the metric
    trackers named in `metric_names`, one optimizer per name in
    `optimizer_names` (compiled, built and serialized together), and
    replica-aware gradient steps. A subclass's `get_config` names each of its
    own constructor arguments; `from_config` deserializes the networks among
    them. Not used directly.
    """

    #: Metrics reported by fit/evaluate, in this order.
    metric_names = ("loss",)
    #: Optimizer attributes; the first is Keras's own `optimizer`.
    optimizer_names = ("optimizer",)
    #: {optimizer name: Adam's rate} when `compile` gets no optimizer and there is no preset.
    learning_rates = {"optimizer": 1e-4}

    def __init__(self, preset=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Metrics.
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}
        self._health = _Health()
        # Config.
        self.preset = preset
        self.seed = seed

    # --------------------------------------------------------- training plumbing

    def metric_values(self, terms):
        """Per-example values of each metric in `metric_names`."""
        raise NotImplementedError

    def primal_loss(self, terms):
        """Per-example loss of the primal player (the first optimizer's)."""
        raise NotImplementedError

    def update_metrics(self, terms):
        """Updates the trackers; returns each metric's mean over the global batches so far.

        Each replica's trackers hold its own total and count; they are summed
        across replicas (one all-reduce), so every replica returns

            metric = sum_r total_r / sum_r count_r

        (exact when the replicas' shares differ, e.g. in a last partial batch).
        """
        for name, value in self.metric_values(terms).items():
            self.trackers[name].update_state(value)
        sums = distribute.replica_sum(tf.stack(
            [tf.stack([tracker.total.value, tracker.count.value]) for tracker in self.trackers.values()]))
        return distribute.step_logs({name: tf.math.divide_no_nan(sums[i, 0], sums[i, 1])
                                     for i, name in enumerate(self.trackers)})

    @property
    def metrics(self):
        return list(self.trackers.values())

    def apply_gradients(self, optimizer, tape, loss, variables):
        """One step of `optimizer` on `loss`, the mean over this replica's batch.

        Keras sums gradients over replicas, so the loss is divided by their
        number: the sum is then the gradient of the global-batch mean. A
        `LossScaleOptimizer` scales it further, unscales the gradients and
        skips the step (halving its scale) when they overflow.
        """
        # (`compile` built the optimizer, so `scale_loss` reads the dynamic scale.)
        with tape:
            scaled_loss = optimizer.scale_loss(loss / distribute.num_replicas())
        gradients = tape.gradient(scaled_loss, variables)
        # Count updates whose loss or gradient is not finite, per player;
        # `callbacks.DivergenceGuard` stops training on the first. A sum is NaN or Inf
        # if any term is (and overflows only past 3e38, where a norm's squares
        # overflow past 2e19), in a third of a norm's time on small networks.
        gradients_finite = tf.math.is_finite(
            tf.add_n([tf.reduce_sum(g) for g in gradients if g is not None]))
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            # An overflow of the scaled gradients is a skipped step, not divergence;
            # only at a scale <= 1 can scaling no longer explain it.
            gradients_finite = tf.math.logical_or(gradients_finite,
                                                  optimizer.dynamic_scale > 1.0)
        finite = tf.math.logical_and(tf.reduce_all(tf.math.is_finite(loss)), gradients_finite)
        player = self.player_name(optimizer)
        self._health.counts[player].assign_add(1.0 - tf.cast(finite, tf.float32))
        # The norm of this replica's batch-mean gradient, unscaled.
        scale = (optimizer.dynamic_scale if isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
                 else 1.0)
        self.record_peak(f"gradient_norm/{player}", tf.linalg.global_norm(gradients)
                         * (distribute.num_replicas() / scale))
        optimizer.apply(gradients, variables)

    def player_name(self, optimizer):
        """'primal' for `optimizer`, else the attribute name without '_optimizer'."""
        for name in self.optimizer_names:
            if getattr(self, name, None) is optimizer:
                return player_of(name)
        raise ValueError("This optimizer is none of the model's players'.")

    @property
    def health_names(self):
        """The peaks `health` reports: each player's gradient norm, and a subclass's own."""
        return tuple(f"gradient_norm/{player_of(name)}" for name in self.optimizer_names)

    def record_peak(self, name, value):
        """Keeps the largest `value` of `name` (one of `health_names`) since `health` last read it.

        A NaN is kept (tf.maximum propagates it), so a broken step shows as NaN.
        """
        peak = self._health.peaks[name]
        peak.assign(tf.maximum(peak, tf.cast(value, tf.float32)))

    def health(self):
        """{name: the largest value since the last call} for each of `health_names`; resets them.

        The per-step health of a run (`callbacks.TrainingMonitor` writes it as
        health/<name>): a gradient norm or an adversary's logit that jumps by orders of
        magnitude within a few steps is how an unstable run begins (docs/RESULTS.md,
        "Why Adaptive Contrast blew up"), and a peak over the steps between two writes
        shows the one step that sampling every `log_every` steps would miss.
        """
        peaks = {name: float(peak.numpy()) for name, peak in self._health.peaks.items()}
        for peak in self._health.peaks.values():
            peak.assign(0.0)
        return peaks

    def nonfinite_updates(self):
        """{player: number of updates so far whose loss or gradient was NaN or Inf}.

        Under loss scaling a step whose scaled gradients overflow is skipped by the
        optimizer and not counted, unless the loss scale has fallen to 1 or below.
        """
        return {name: int(count.numpy()) for name, count in self._health.counts.items()}

    @property
    def density_dtype(self):
        """The dtype of densities and losses: the variables' (float32 under a mixed policy)."""
        return self.dtype_policy.variable_dtype

    def to_density_dtype(self, tensors):
        """Network outputs (a tensor or a structure) cast to `density_dtype`."""
        return tf.nest.map_structure(lambda t: tf.cast(t, self.density_dtype), tensors)

    # ---------------------------------------------------------------- optimizers

    def compile(self, optimizer=None, lr_schedule=None, decay_steps=None, warmup_steps=0,
                ema=None, **kwargs):
        """Compile with one optimizer per player; the defaults when none is given.

        Keyword arguments named in `optimizer_names[1:]` (e.g.
        `adversary_optimizer`) set the other players' optimizers; `clipnorm`
        clips every gradient of every player to that norm. `lr_schedule="cosine"`
        decays every player's rate to 0 over `decay_steps` updates after
        `warmup_steps` of linear warm-up; `ema=m` keeps a moving average of the
        primal player's weights, which are the weights evaluated, saved and
        exported after `fit` (see `avb_keras.optimizers`). Under the
        "mixed_float16" policy every player's optimizer is wrapped in a
        `LossScaleOptimizer` (unless it is one, or `auto_scale_loss=False`).
        `jit_compile` keeps Keras's default "auto" (XLA on where a GPU exists, off
        on a CPU-only machine, where `benchmarks/xla.py` finds it slower). The
        optimizers are built here, in the caller's distribution scope: built
        lazily inside a replica's step, their slots would not be mirrored.
        """
        others = {name: kwargs.pop(name, None) for name in self.optimizer_names[1:]}
        clipnorm = kwargs.pop("clipnorm", None)
        self._scales_loss = (kwargs.pop("auto_scale_loss", True)
                             and self.dtype_policy.name == "mixed_float16")
        schedule = dict(schedule=lr_schedule, decay_steps=decay_steps,
                        warmup_steps=warmup_steps)
        primal = optimizers.with_average(
            optimizers.with_schedule(self._given("optimizer", optimizer), **schedule), ema)
        # Wrapped here for every player alike, so Keras must not wrap the first again.
        super().compile(optimizer=self._loss_scaled("optimizer", primal),
                        auto_scale_loss=False, **kwargs)
        for name, given in others.items():
            setattr(self, name, self._loss_scaled(
                name, optimizers.with_schedule(self._given(name, given), **schedule)))
        if clipnorm is not None:
            self.clip_gradients(clipnorm)
        self._health.counts = {player_of(name): tf.Variable(
            0.0, trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.SUM) for name in self.optimizer_names}
        self._health.peaks = {name: tf.Variable(
            0.0, trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA) for name in self.health_names}
        self._average_primal_only()
        self.build_optimizers()

    def _average_primal_only(self):
        """Keras ends `fit` with `optimizer.finalize_variable_values(model.trainable_weights)`,
        every player's weights; the primal optimizer averages only the primal player's."""
        if optimizers.uses_average(self.optimizer):
            finalize = self.optimizer.finalize_variable_values
            self.optimizer.finalize_variable_values = (
                lambda variables: finalize(self.player_variables["optimizer"]))

    def fit(self, *args, callbacks=None, **kwargs):
        if self.compiled and optimizers.uses_average(self.optimizer):
            callbacks = [*(callbacks or []), optimizers.AveragedValidation(self)]
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def clip_gradients(self, clipnorm):
        """Clip each gradient to norm `clipnorm` in every player's optimizer."""
        if not clipnorm > 0:
            raise ValueError(f"clipnorm must be positive; got {clipnorm!r}.")
        for name in self.optimizer_names:
            # A LossScaleOptimizer's inner optimizer clips the unscaled gradients.
            optimizer = unscaled_optimizer(getattr(self, name))
            if optimizer.global_clipnorm or optimizer.clipvalue:
                raise ValueError(f"The {name} already clips (global_clipnorm or clipvalue); "
                                 "give one kind of clipping only.")
            optimizer.clipnorm = float(clipnorm)

    def _given(self, name, given):
        return self.default_optimizer(name) if given is None else keras.optimizers.get(given)

    def _loss_scaled(self, name, optimizer):
        if self._scales_loss and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = keras.optimizers.LossScaleOptimizer(
                optimizer, name=f"{player_of(name)}_loss_scale_optimizer")
        return optimizer

    def default_optimizer(self, name):
        """The optimizer of player `name` when `compile` is given none.

        Adam(beta_1 = 0.5), as the authors used for every player, at the
        preset's rate for that player, or at the class's `learning_rates` for a
        model built by hand.
        """
        rates = self.learning_rates if self.preset is None else presets.learning_rates(self.preset)
        return optimizers.player_adam(rates[name])

    @property
    def player_variables(self):
        """{optimizer name: the variables it trains}."""
        raise NotImplementedError

    def build_optimizers(self):
        """Create optimizer slots now (needed before loading their saved state)."""
        for name, variables in self.player_variables.items():
            getattr(self, name).build(variables)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and self.compiled:  # an uncompiled model has no optimizers
            for name in self.optimizer_names[1:]:
                config[name] = keras.optimizers.serialize(getattr(self, name))
        return config

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))

    # ------------------------------------------------------------- serialization

    def get_config(self):
        """The base config plus `preset` and `seed`; subclasses add their own arguments."""
        config = super().get_config()
        config.update(preset=self.preset, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name, value in config.items():
            if isinstance(value, dict) and "class_name" in value:  # a serialized network
                config[name] = keras.saving.deserialize_keras_object(value)
        return cls(**config)


class _Health:
    """Non-finite update counts per player and the peaks of `health_names`: tf.Variables
    kept out of Keras's tracking (a plain object), so that they are neither saved nor part
    of `model.variables`."""

    def __init__(self):
        self.counts = {}
        self.peaks = {}


def unscaled_optimizer(optimizer):
    """The optimizer that updates the weights: a LossScaleOptimizer's inner one, else itself."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def player_of(optimizer_name):
    """The player an optimizer attribute trains: "optimizer" -> "primal", "x_optimizer" -> "x"."""
    return "primal" if optimizer_name == "optimizer" else optimizer_name.removesuffix("_optimizer")


def serialize(layer):
    """A network or likelihood as a config entry (`from_config` deserializes it)."""
    return keras.saving.serialize_keras_object(layer)
