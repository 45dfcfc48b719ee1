"""SavedModels in TensorFlow Serving's layout, written atomically, with a model card.

    export_decoder(model, "saved_models/avb_mnist/decoder")   # -> .../decoder/1/
    export_encoder(model, "saved_models/avb_mnist/encoder")   # -> .../encoder/1/

TF Serving watches a base directory and serves its highest integer version:

    BASE_DIR/
      1/saved_model.pb, 1/variables/      one version (tag "serve")
      2/...
      MODEL_CARD.md, model_card.json      beside the versions; one section per version

The decoder and the encoder are separate servables (separate base directories):
a client that only generates images never loads the encoder, and each can be
redeployed alone. Signatures (method `tensorflow/serving/predict`):

    decoder  serving_default  z [batch, latent_dim] float32
                              -> probs  E[x|z], image-shaped, float32
                                 logits the Bernoulli logits (Bernoulli likelihood only)
             sample           num_samples int32 scalar, seed int64 scalar (-1: fresh noise)
                              -> images E[x|z] with z ~ p(z) = N(0, I)
                                 z      the prior draws
    encoder  encode           x [batch, H, W, C] float32, seed int64 scalar (-1: fresh noise)
                              -> z      one sample of q(z|x) per example
                                 z_mean, z_std  the moments of q(z|x)

z_mean and z_std are those of the model's `moment_matched_gaussian(x)`: for the
VAE, the Gaussian encoder's mean and standard deviation; for AVB's moment
encoder, the analytic moments (r(z|x) of Adaptive Contrast; a request of fewer
than 256 images is tiled to 256 noise draws); otherwise Monte Carlo over 256
encoder draws per image, with sigma = sqrt(var + 1e-4) as in
`contrast.auxiliary_gaussian`.

Every signature checks its inputs inside the graph (NaN/Inf, the range of
pixels, the number of samples), so that a server rejects a bad request with a
message rather than returning garbage. The functions are never XLA-compiled,
since XLA drops such run-time assertions.

A version is written to a hidden temporary folder beside the target and renamed
into place: a crash never leaves a partial version that a server would load, and
an existing version is never overwritten. Each export adds the version's entry to
the model card beside the versions (`model_card`).
"""

from pathlib import Path

import tensorflow as tf

from avb_keras import saving, validation
from avb_keras.atomic import atomic_path
from avb_keras.checks import int_at_least
from avb_keras.export.model_card import describe, write_model_card
from avb_keras.models.base import LatentVariableModel
from avb_keras.seeding import reseed, seed_state_variables

#: The SignatureDef method name that TF Serving's Predict API expects.
PREDICT_METHOD = tf.saved_model.PREDICT_METHOD_NAME
#: The most images one `sample` call may ask for (bounds a server's memory per request).
MAX_SAMPLES = 10000
#: The seed value that means "no seed": fresh noise from the exported generators.
NO_SEED = -1


# ----------------------------------------------------------------------- public API

def export_decoder(model, base_dir, version=None, card=None):
    """Writes the decoder of `model` as version `version` of `base_dir`.

    Args:
      model: a trained `avb_keras` model with a decoder (VAE, AVB or AAE).
      base_dir: the TF Serving base directory (created if needed).
      version: a non-negative int; default: one more than the highest version there.
      card: optional dict for the model card: "data", "training_budget",
        "test_metrics", "command", "notes" (anything JSON-serializable).

    Returns:
      The `Path` of the new version folder.

    Raises:
      FileExistsError: that version exists already (it is never overwritten).
      ValueError: a bad version.
    """
    module = DecoderModule(model)
    signatures = {"serving_default": module.serving_default, "sample": module.sample}
    return _export(module, signatures, model, "decoder", base_dir, version, card)


def export_encoder(model, base_dir, version=None, card=None):
    """Writes the encoder of `model` (signature `encode`); see `export_decoder`."""
    module = EncoderModule(model)
    return _export(module, {"encode": module.encode}, model, "encoder", base_dir, version, card)


def next_version(base_dir):
    """One more than the highest integer version in `base_dir` (1 when there is none)."""
    return max(versions(base_dir), default=0) + 1


def versions(base_dir):
    """The integer versions present in `base_dir`, as TF Serving would see them."""
    base_dir = Path(base_dir)
    if not base_dir.is_dir():
        return []
    return sorted(int(p.name) for p in base_dir.iterdir() if p.is_dir() and p.name.isdigit())


def seed_generators(model):
    """The state variables of every random generator `encode` draws from.

    Setting them from one seed makes an encoding repeatable (see `reseed`).
    """
    return seed_state_variables(model.encoder) + [model.seed_generator.state]


def load_trained(path):
    """(model, run summary or None) from a `.keras` file or an `avb-keras train` run folder
    (`saving.load_run`), checked to have the networks an export needs."""
    model, summary = saving.load_run(path)
    _check_model(model)
    return model, summary


# ------------------------------------------------------------------------- modules

def _check_finite(tensor, name):
    return tf.debugging.assert_all_finite(
        tensor, validation.nonfinite_message(f"Input '{name}'", "float32 values"))


class DecoderModule(tf.Module):
    """`serving_default` (z -> probs, logits) and `sample` (num_samples, seed -> images).

    Holds only the decoder's and the likelihood's variables, so the SavedModel
    carries neither the encoder nor the adversary.
    """

    def __init__(self, model):
        super().__init__(name="avb_keras_decoder")
        _check_model(model)
        # Tracked so that tf.saved_model.save writes them; the model itself is kept
        # out of the object graph (it would drag in the adversary and optimizers).
        self.model_variables = _tf_variables(list(model.decoder.variables)
                                             + list(model.likelihood.variables))
        latent_dim = model.latent_dim
        has_logits = model.likelihood.has_logits

        def decode(z):
            params = model.decoder(tf.cast(z, model.compute_dtype))
            outputs = {"probs": tf.cast(model.likelihood.mean(params), tf.float32)}
            if has_logits:
                outputs["logits"] = tf.cast(params, tf.float32)
            return outputs

        @tf.function(jit_compile=False, autograph=False, input_signature=[
            tf.TensorSpec([None, latent_dim], tf.float32, name="z")])
        def serving_default(z):
            z = tf.ensure_shape(z, [None, latent_dim])  # a server may feed any shape
            with tf.control_dependencies([_check_finite(z, "z")]):
                return decode(tf.identity(z))

        @tf.function(jit_compile=False, autograph=False, input_signature=[
            tf.TensorSpec([], tf.int32, name="num_samples"),
            tf.TensorSpec([], tf.int64, name="seed")])
        def sample(num_samples, seed):
            checks = [
                tf.debugging.assert_positive(
                    num_samples, f"Input 'num_samples' must be in [1, {MAX_SAMPLES}]."),
                tf.debugging.assert_less_equal(
                    num_samples, MAX_SAMPLES,
                    f"Input 'num_samples' must be in [1, {MAX_SAMPLES}]."),
                tf.debugging.assert_greater_equal(
                    seed, tf.constant(NO_SEED, tf.int64),
                    "Input 'seed' must be a non-negative integer, or -1 for fresh noise."),
            ]
            with tf.control_dependencies(checks):
                # A fixed seed gives the same images on every call and every server.
                pair = tf.cond(
                    seed >= 0,
                    lambda: tf.stack([seed, tf.constant(0, tf.int64)]),
                    lambda: tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64))
                z = tf.random.stateless_normal(tf.stack([num_samples, latent_dim]), seed=pair)
            outputs = decode(z)
            return {"images": outputs["probs"], "z": z}

        self.serving_default = serving_default
        self.sample = sample


class EncoderModule(tf.Module):
    """`encode` (x, seed -> z, and z_mean / z_std where the model has them)."""

    def __init__(self, model):
        super().__init__(name="avb_keras_encoder")
        _check_model(model)
        generators = seed_generators(model)
        self.model_variables = _tf_variables(list(model.encoder.variables)
                                             + [model.seed_generator.state])
        data_shape = tuple(model.data_shape)
        support = model.likelihood.support
        moments = encoder_moments(model)

        @tf.function(jit_compile=False, autograph=False, input_signature=[
            tf.TensorSpec((None,) + data_shape, tf.float32, name="x"),
            tf.TensorSpec([], tf.int64, name="seed")])
        def encode(x, seed):
            x = tf.ensure_shape(x, (None,) + data_shape)  # a server may feed any shape
            checks = validation.value_checks(x, support, "Input 'x'") + [
                tf.debugging.assert_greater_equal(
                    seed, tf.constant(NO_SEED, tf.int64),
                    "Input 'seed' must be a non-negative integer, or -1 for fresh noise.")]
            with tf.control_dependencies(checks):
                tf.cond(seed >= 0, lambda: _reseeded(generators, seed), tf.no_op)
            with tf.control_dependencies(checks):
                x = tf.identity(x)
            return moments(tf.cast(x, model.compute_dtype))

        self.encode = encode


def _tf_variables(variables):
    """The tf.Variables behind Keras variables. Tracking these (not the Keras wrappers)
    gives one variable per weight in the graph, which the TF1 session loader (and so
    TF Serving's) restores; with the wrappers the graph had a second, never-restored copy."""
    return [getattr(v, "value", v) if not isinstance(v, tf.Variable) else v for v in variables]


def _reseeded(states, seed):
    reseed(states, seed)
    return tf.no_op()


def encoder_moments(model):
    """A function x -> {"z", "z_mean", "z_std"}: a draw of q(z|x) and q's moments."""
    def moments(x):
        z = model.encode(x)
        r = model.moment_matched_gaussian(x)
        return {"z": tf.cast(z, tf.float32),
                "z_mean": tf.cast(r.mean(), tf.float32), "z_std": tf.cast(r.stddev(), tf.float32)}
    return moments


def _check_model(model):
    if not isinstance(model, LatentVariableModel):
        raise TypeError(f"Expected an avb_keras model with a decoder (VAE, AVB or AAE); got "
                        f"{type(model).__name__}.")


def _check_version(version):
    return int_at_least(version, 0, "version", " (TF Serving's version folders are integers)")


def _export(module, signatures, model, kind, base_dir, version, card):
    base_dir = Path(base_dir)
    version = next_version(base_dir) if version is None else _check_version(version)
    target = base_dir / str(version)
    if target.exists():
        raise FileExistsError(f"Version {version} exists already at {target}; versions are "
                              "never overwritten. Omit the version to write the next free one.")
    # The temporary name is hidden, not an integer: TF Serving never serves it half-written.
    with atomic_path(target, overwrite=False) as temporary:
        tf.saved_model.save(module, str(temporary), signatures=signatures)
    write_model_card(base_dir, version, describe(model, kind, target, card))
    return target
