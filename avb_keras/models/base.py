"""What every latent-variable model in avb_keras shares.

    p(z) = N(0, I),   p(x | z) = likelihood(decoder(z)),   q(z | x) = encoder

`PlayerModel` is the plumbing of any model trained here: the metric trackers,
one optimizer per player (their compile, build and serialization), replica
scaling of each step, loss scaling for mixed precision, and the config of the
sub-networks. `LatentVariableModel` adds the generative model: the prior, the
decoder likelihood, `encode` / `decode` / `sample` and the input checks. A
subclass adds what makes its method different: `compute_terms` (the
per-example reconstruction and KL terms) and a short `train_step`.

Every model reports, per example and in nats:

    reconstruction = -log p(x | z),  z ~ q(z|x)
    kl             = KL(q(z|x) || p(z))   (an estimate for AVB)
    elbo           = -(reconstruction + kl),   loss = -elbo

Mixed precision (`keras.mixed_precision.set_global_policy("mixed_float16")` on
a GPU, "mixed_bfloat16" on a CPU): the networks compute in 16 bits, but
variables and every density (likelihood, prior, r(z|x), KL, the adversary's
loss) stay in `density_dtype` (float32): network outputs are cast at the
model's boundary. Under "mixed_float16" every player's optimizer is wrapped in
a `keras.optimizers.LossScaleOptimizer`.
"""

import keras
import tensorflow as tf

from avb_keras import contrast, distribute, likelihoods, presets, validation


class PlayerModel(keras.Model):
    """A Keras model trained by one optimizer per player (primal, adversary, ...).

    Holds what every trained model here shares, whatever it models: the metric
    trackers named in `metric_names`, one optimizer per name in
    `optimizer_names` (compiled, built and serialized together), replica-aware
    gradient steps, and the (de)serialization of the sub-networks named in
    `network_names`. Not used directly.
    """

    #: Metrics reported by fit/evaluate, in this order.
    metric_names = ("loss",)
    #: Sub-networks serialized in the config.
    network_names = ()
    #: Optimizer attributes; the first is Keras's own `optimizer`.
    optimizer_names = ("optimizer",)

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
        # Count updates whose loss or gradient is not finite, per player (a scalar
        # reduction per step); `callbacks.DivergenceGuard` stops training on the first.
        gradients_finite = tf.math.is_finite(
            tf.linalg.global_norm([g for g in gradients if g is not None]))
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            # An overflow of the scaled gradients is a skipped step, not divergence;
            # only at a scale <= 1 can scaling no longer explain it.
            gradients_finite = tf.math.logical_or(gradients_finite,
                                                  optimizer.dynamic_scale > 1.0)
        finite = tf.math.logical_and(tf.reduce_all(tf.math.is_finite(loss)), gradients_finite)
        self._health.counts[self.player_name(optimizer)].assign_add(
            1.0 - tf.cast(finite, tf.float32))
        optimizer.apply(gradients, variables)

    def player_name(self, optimizer):
        """'primal' for `optimizer`, else the attribute name without '_optimizer'."""
        for name in self.optimizer_names:
            if getattr(self, name, None) is optimizer:
                return player_of(name)
        raise ValueError("This optimizer is none of the model's players'.")

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

    def compile(self, optimizer=None, **kwargs):
        """Compile with one optimizer per player; the defaults when none is given.

        Keyword arguments named in `optimizer_names[1:]` (e.g.
        `adversary_optimizer`) set the other players' optimizers; `clipnorm`
        clips every gradient of every player to that norm. Under the
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
        # Wrapped here for every player alike, so Keras must not wrap the first again.
        super().compile(optimizer=self._optimizer("optimizer", optimizer),
                        auto_scale_loss=False, **kwargs)
        for name, given in others.items():
            setattr(self, name, self._optimizer(name, given))
        if clipnorm is not None:
            self.clip_gradients(clipnorm)
        self._health.counts = {player_of(name): tf.Variable(
            0.0, trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.SUM) for name in self.optimizer_names}
        self.build_optimizers()

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

    def _optimizer(self, name, given):
        optimizer = self.default_optimizer(name) if given is None else keras.optimizers.get(given)
        if self._scales_loss and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = keras.optimizers.LossScaleOptimizer(
                optimizer, name=f"{player_of(name)}_loss_scale_optimizer")
        return optimizer

    def default_optimizer(self, name):
        """The optimizer of player `name` when `compile` is given none."""
        return presets.default_optimizer(self.preset, name)

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
        config = super().get_config()
        for name in self.network_names:
            config[name] = keras.saving.serialize_keras_object(getattr(self, name))
        config.update(preset=self.preset, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.network_names:
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)


class _Health:
    """Non-finite update counts per player: tf.Variables kept out of Keras's tracking
    (a plain object), so that they are neither saved nor part of `model.variables`."""

    def __init__(self):
        self.counts = {}


def seed_state_variables(layer):
    """The state variables of every `keras.random.SeedGenerator` in `layer`, in order.

    `.keras` files do not store them; checkpoints, monitoring and exports
    save, restore or set them through this one list.
    """
    return [v for v in layer.variables if v.path.endswith("seed_generator_state")]


def unscaled_optimizer(optimizer):
    """The optimizer that updates the weights: a LossScaleOptimizer's inner one, else itself."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def player_of(optimizer_name):
    """The player an optimizer attribute trains: "optimizer" -> "primal", "x_optimizer" -> "x"."""
    return "primal" if optimizer_name == "optimizer" else optimizer_name.removesuffix("_optimizer")


class LatentVariableModel(PlayerModel):
    """Base class of the generative models; see the module docstring. Not used directly."""

    metric_names = ("loss", "reconstruction", "kl", "elbo")
    network_names = ("encoder", "decoder", "likelihood")
    #: Which networks `presets` builds for this class.
    preset_family = None

    def __init__(self, encoder, decoder, likelihood="bernoulli", preset=None, seed=None,
                 **kwargs):
        super().__init__(preset=preset, seed=seed, **kwargs)
        # Layers.
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihoods.get(likelihood)
        # Config.
        self.latent_dim = int(decoder.input_shape[-1])
        self.data_shape = tuple(int(d) for d in decoder.output_shape[1:])

    @classmethod
    def from_preset(cls, name, **overrides):
        """A model with the networks of preset `name`; see `avb_keras.presets`.

        Overrides are network settings (`latent_dim`, `seed`, ...) or
        constructor arguments (`adaptive_contrast`, `adversary_steps`, ...).
        """
        return cls(**presets.model_kwargs(cls.preset_family, name, **overrides))

    def build(self, input_shape=None):
        # One forward pass on a dummy batch creates every variable, so that
        # optimizers can be built and saved weights loaded right away.
        self.likelihood.build((None,) + self.data_shape)
        self.compute_terms(tf.zeros((2,) + self.data_shape))

    # ------------------------------------------------------------------ the model

    @property
    def prior(self):
        """p(z) = N(0, I)."""
        return contrast.standard_normal(self.latent_dim, self.density_dtype)

    @property
    def primal_variables(self):
        """What the (primal) `optimizer` trains: encoder, decoder and likelihood."""
        return (self.encoder.trainable_variables + self.decoder.trainable_variables
                + self.likelihood.trainable_variables)

    def encode(self, x):
        """Samples z ~ q(z|x), one per example."""
        out = self.encoder(x)
        return self.to_density_dtype(out["z"] if isinstance(out, dict) else out)

    def decoder_params(self, z):
        """The parameters of p(x|z), in `density_dtype`."""
        return self.to_density_dtype(self.decoder(z))

    def decode(self, z):
        """The mean of p(x|z), shaped like the data."""
        return self.likelihood.mean(self.decoder_params(z))

    def sample(self, n, seed=None):
        """n draws of E[x|z] with z ~ p(z); `seed` (an int) makes them repeatable."""
        z = keras.random.normal((int(n), self.latent_dim),
                                seed=self.seed_generator if seed is None else seed)
        return self.decode(z)

    def log_likelihood(self, x, z):
        """log p(x|z) per example (nats). z may carry extra leading sample axes."""
        return self.likelihood.log_prob(x, self.decoder_params(z))

    def call(self, x):
        """A reconstruction: decode(encode(x))."""
        return self.decode(self.encode(x))

    def compute_terms(self, x):
        """Per-example tensors: at least "reconstruction" and "kl"."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training

    def test_step(self, data):
        return self.update_metrics(self.compute_terms(self.images(data)))

    def metric_values(self, terms):
        negative_elbo = terms["reconstruction"] + terms["kl"]
        return {"loss": negative_elbo, "reconstruction": terms["reconstruction"],
                "kl": terms["kl"], "elbo": -negative_elbo}

    @property
    def player_variables(self):
        return {"optimizer": self.primal_variables}

    # -------------------------------------------------------------- input checks

    def images(self, data):
        """The images of a batch, checked against the model's data form.

        Accepts a tensor, an `(x, y[, sample_weight])` tuple (labels ignored) or
        a dict with an "image" key (tensorflow-datasets style). Checks the shape
        and dtype at trace time; values are checked in the input pipeline (see
        `checked`), since XLA drops run-time assertions inside a compiled step.
        """
        # The likelihood's dtype; each network casts its input to its compute dtype.
        return validation.image_batch(data, self.data_shape, self.likelihood.support,
                                      self.density_dtype)

    def checked(self, data):
        """`data` with its form checked now and a dataset's values as it is read.

        See `avb_keras.validation.checked`; read a checked dataset inside
        `self.plain_value_errors()`, as `fit` and `evaluate` do.
        """
        return validation.checked(data, self.data_shape, self.likelihood.support)

    def plain_value_errors(self):
        """A context in which a bad value read from a `checked` dataset is a plain ValueError."""
        return validation.plain_value_errors(self.likelihood.support)

    # Until avb_keras.evaluation calls `checked`.
    _checked = checked

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras would warn
        with self.plain_value_errors():
            return super().fit(self.checked(x), y, *args,
                               validation_data=self.checked(validation_data), **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        with self.plain_value_errors():
            return super().evaluate(self.checked(x), y, *args, **kwargs)
