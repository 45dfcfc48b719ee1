"""What every latent-variable model in avb_keras shares.

    p(z) = N(0, I),   p(x | z) = likelihood(decoder(z)),   q(z | x) = encoder

`LatentVariableModel` is the generative model on top of the players'
plumbing (`models.players.PlayerModel`): the prior, the decoder likelihood,
`encode` / `decode` / `sample`, the Gaussian with the moments of q
(`moment_matched_gaussian`) and the input checks. A subclass adds what makes
its method different: `compute_terms` (the per-example reconstruction and KL
terms) and its training step.

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

Training and test steps are traced without AutoGraph
(`tf.autograph.experimental.do_not_convert`): they hold no Python control flow on
tensors (their loops run over Python ints, their branches are `tf.cond`), so the
conversion only cost time at each trace (about a CPU-second of a short command-line
run); a subclass's step that branches on a tensor must use `tf.cond` too.
"""

import keras
import tensorflow as tf

from avb_keras import (contrast, likelihoods, networks, pretrained, preset_files, presets, priors,
                       seeding, validation)
from avb_keras.checks import int_at_least, positive_int
from avb_keras.contrast import MOMENT_SAMPLES, TRAINING_MOMENT_SAMPLES
from avb_keras.models.players import PlayerModel, serialize


class LatentVariableModel(PlayerModel):
    """Base class of the generative models; see the module docstring. Not used directly.

    Args:
      encoder: a Keras model from x to samples of q(z|x) (or its parameters).
      decoder: a Keras model from z to the likelihood's parameters.
      likelihood: "bernoulli", "gaussian", an `avb_keras.likelihoods.Likelihood`
        or its serialized config.
      preset, seed: recorded in the config; `seed` seeds the model's own draws.
    """

    metric_names = ("loss", "reconstruction", "kl", "elbo")
    #: K, the encoder draws behind Monte Carlo moments of q in a training step.
    moment_samples = TRAINING_MOMENT_SAMPLES
    #: The adversary T of a model whose KL it estimates (AVB, AAE); None without one.
    adversary = None

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
    def from_preset(cls, name, load_weights=True, **overrides):
        """A trained model from a (pretrained or local) preset, or a named architecture.

        - A folder: a local preset (`save_to_preset`), the saved model with its
          weights unless `load_weights=False` (`avb_keras.preset_files`).
        - A pretrained preset's name (`avb_keras.list_presets()`, e.g.
          "mnist_avb_ac_z32"): the trained model, offline (`avb_keras.pretrained`);
          with `load_weights=False` its architecture, freshly initialized.
        - An architecture's name ("mnist_mlp", ...; `avb_keras.presets`): freshly
          initialized (`from_architecture`), and overrides are network settings
          (`latent_dim`, `seed`, ...) or constructor arguments (`adaptive_contrast`,
          `adversary_steps`, ...).
        """
        folder = name if preset_files.is_preset_dir(name) else pretrained.path(name)
        if folder is not None:
            if overrides:
                raise ValueError(f"A saved preset is the model as saved; got overrides "
                                 f"{sorted(overrides)} for {name}. Start from the architecture "
                                 "preset for a different configuration.")
            return preset_files.load_preset(cls, folder, load_weights=load_weights)
        return cls.from_architecture(name, **overrides)

    @classmethod
    def from_architecture(cls, name, latent_dim=None, data_shape=None, seed=None,
                          adversary_width=None, **overrides):
        """A freshly initialized model of the architecture preset `name`.

        The decoder and likelihood are every model's; the class builds the rest
        from the `Preset` (`preset_arguments`).

        Args:
          name: an architecture preset (`avb_keras.presets.PRESETS`).
          latent_dim, data_shape: replace the preset's (`presets.configured`).
          adversary_width: a factor on the adversary's widths (`presets.configured`).
          seed: seeds every noise source and the model's own sampling.
          **overrides: the class's preset options or constructor arguments.
        """
        preset = presets.configured(name, latent_dim, data_shape, adversary_width)
        decoder = preset_decoder(preset)
        arguments = cls.preset_arguments(preset, seed, **overrides)
        return cls(decoder=decoder, likelihood=preset.likelihood, preset=name, seed=seed,
                   **arguments)

    @classmethod
    def preset_arguments(cls, preset, seed, **overrides):
        """The constructor arguments besides the decoder that `preset` gives this class:
        its encoder (and adversary, ...), then `overrides`."""
        raise TypeError(f"{cls.__name__} builds no model from an architecture preset; call "
                        "from_preset on a model class (VAE, AVB or AAE).")

    def save_to_preset(self, preset_dir, model_card=None):
        """Writes the model (class, config, weights, library versions, and `model_card`,
        a dict of facts about it, if given) to the folder `preset_dir`, to be loaded
        with `from_preset(preset_dir)`; returns its path."""
        return preset_files.save_preset(self, preset_dir, model_card=model_card)

    def build(self, input_shape=None):
        # One forward pass on a dummy batch creates every variable, so that
        # optimizers can be built and saved weights loaded right away.
        if not self.likelihood.built:
            self.likelihood.build((None,) + self.data_shape)
        self.compute_terms(tf.zeros((2,) + self.data_shape))
        self.built = True

    # ------------------------------------------------------------------ the model

    @property
    def prior(self):
        """p(z) = N(0, I)."""
        return priors.standard_normal(self.latent_dim, self.density_dtype)

    @property
    def primal_variables(self):
        """What the (primal) `optimizer` trains: encoder, decoder and likelihood."""
        return (self.encoder.trainable_variables + self.decoder.trainable_variables
                + self.likelihood.trainable_variables)

    @property
    def encoder_type(self):
        """"moment" (returns its moments) or "implicit" (a sampler only); the VAE: "gaussian"."""
        out = self.encoder.output
        return "moment" if isinstance(out, dict) and "mean" in out else "implicit"

    @property
    def encoder_passes(self):
        """Encoder forward passes per example in one training step (for FLOP counts)."""
        return 1

    def posterior(self, x):
        """q(z|x) as a tfp distribution, for a model whose encoder has a density."""
        raise TypeError(f"This needs an encoder with a density q(z|x), such as the VAE's; "
                        f"{type(self).__name__} has an implicit encoder without one (its "
                        "moments: moment_matched_gaussian; its log-likelihood: "
                        "evaluation.ais_log_likelihood).")

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
        z = keras.random.normal((positive_int(n, "n"), self.latent_dim),
                                seed=self.seed_generator if seed is None else seed)
        return self.decode(z)

    def log_likelihood(self, x, z):
        """log p(x|z) per example (nats). z may carry extra leading sample axes."""
        return self.likelihood.log_prob(x, self.decoder_params(z))

    def call(self, x):
        """A reconstruction: decode(encode(x))."""
        return self.decode(self.encode(x))

    def moment_matched_gaussian(self, x, covariance="diagonal", num_samples=None, seed=None):
        """r(z|x): the Gaussian with the first two moments of q(z|x).

            r(z|x) = N(mu(x), Sigma(x)),  mu = E_q[z | x],  Sigma = Cov_q[z | x]

        Here from K = `num_samples` encoder draws per example (default
        `MOMENT_SAMPLES` = 256), held constant for the gradient; a model
        whose encoder knows its moments answers exactly (VAE) or analytically
        (AVB's moment encoder). Used by Adaptive Contrast, AIS's initial
        distribution, the export's z_mean / z_std, monitoring and
        `evaluation.kl_lower_bound`.

        Args:
          x: a checked batch of examples [batch, *data_shape].
          covariance: "diagonal" (a `tfd.Independent(tfd.Normal)`; the paper's
            r, sigma = sqrt(var + 1e-4)) or "full" (a `tfd.MultivariateNormalTriL`,
            Sigma + 1e-4 I; shrunk toward its diagonal when K <= latent_dim,
            see `contrast.moments`).
          num_samples: K, the encoder draws behind Monte Carlo moments.
          seed: an int makes the draws repeatable (the model's own random
            streams are left as they were); None draws from them. Eager only.

        Returns:
          A distribution with batch shape [batch] and event shape [latent_dim].
        """
        k = self._moment_draws(num_samples)
        with seeding.seeded(self, seed):
            draws = self.encode(tile(x, k))
        samples = tf.reshape(tf.stop_gradient(draws), [k, -1, self.latent_dim])
        return contrast.gaussian(contrast.moments(samples, covariance), covariance)

    def _moment_draws(self, num_samples, name="num_samples"):
        return int_at_least(MOMENT_SAMPLES if num_samples is None else num_samples, 2, name,
                            " (the moments of q are estimated from that many encoder draws)")

    def compute_terms(self, x):
        """Per-example tensors: at least "reconstruction" and "kl"."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        return self.update_metrics(self.compute_terms(self.images(data)))

    def primal_loss(self, terms):
        """-ELBO per example: reconstruction + kl."""
        return terms["reconstruction"] + terms["kl"]

    def metric_values(self, terms):
        negative_elbo = self.primal_loss(terms)
        return {"loss": negative_elbo, "reconstruction": terms["reconstruction"],
                "kl": terms["kl"], "elbo": -negative_elbo}

    @property
    def player_variables(self):
        return {"optimizer": self.primal_variables}

    def get_config(self):
        config = super().get_config()
        config.update(encoder=serialize(self.encoder), decoder=serialize(self.decoder),
                      likelihood=serialize(self.likelihood))
        return config

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

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras would warn
        with self.plain_value_errors():
            return super().fit(self.checked(x), y, *args,
                               validation_data=self.checked(validation_data), **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        with self.plain_value_errors():
            return super().evaluate(self.checked(x), y, *args, **kwargs)


def encoder_trunk(preset):
    """The encoder settings every model takes from `preset`: its MLP, ELU, its convolutions."""
    return dict(hidden_units=preset.hidden_units, activation="elu",
                conv_filters=preset.conv_filters)


def preset_decoder(preset):
    """Every model's decoder for `preset`: transposed convolutions when it names
    `decoder_filters`, else an MLP."""
    if preset.decoder_filters:
        return networks.conv_decoder(preset.latent_dim, preset.data_shape,
                                     hidden_units=preset.hidden_units,
                                     conv_filters=preset.decoder_filters)
    return networks.mlp_decoder(preset.latent_dim, preset.data_shape,
                                hidden_units=preset.hidden_units)


def tile(x, times):
    """[times * batch, ...]: `times` copies of the batch, copy-major.

    Tiled as a [batch, -1] matrix and shaped back (a third faster than tiling
    every axis of an image batch, for the same tensor).
    """
    x = tf.convert_to_tensor(x)
    tail = x.shape[1:]
    tail = [-1, *tail] if tail.is_fully_defined() else tf.concat([[-1], tf.shape(x)[1:]], 0)
    rows = tf.reshape(x, [tf.shape(x)[0], -1])
    return tf.reshape(tf.tile(rows, [times, 1]), tail)
