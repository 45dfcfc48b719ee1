"""Shared test set-up: quiet TensorFlow, two logical CPUs, tiny models; the same seeds and
global state for every test, whatever ran before it.

Every test starts from `keras.utils.set_random_seed(SEED)` (Python's `random`, NumPy and
TensorFlow), after `keras.backend.clear_session()`; so does every module- or
session-scoped fixture, which pytest sets up before the test's own seeding. A
`SeedGenerator(seed=None)` (a noise layer or a model built without `seed=`) and every
Keras initializer without a seed take their state from Python's `random` at
construction, so they too are fixed by this seed. The global settings a test may change
(the dtype policy and the other `keras.config` settings, eager execution, environment
variables, the working directory, NumPy's error handling) are restored after each
test, with a warning naming the test that left them changed.

Hypothesis runs derandomized (the same examples on every run and machine) and keeps
no example database; `--hypothesis-profile explore` draws fresh examples instead.

AVB_TEST_ORDER=reverse (or shuffle-SEED) reorders the test modules, and the tests
within each module, to look for order dependence: `AVB_TEST_ORDER=reverse python -m
pytest -m "not slow and not e2e" -p no:xdist`.
"""

import atexit
import gc
import math
import os
import random
import shutil
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
#: Speed, not behaviour: the tests' models are tiny, so their arithmetic gains nothing
#: from a second thread or from oneDNN's kernels, which cost set-up and contend with the
#: other pytest worker (one a core). Each test process computes on one thread without
#: oneDNN: test_models and test_ais took 91 CPU-seconds against 104. The processes the
#: tests start inherit both (a resumed run must compute as its killed run did). The
#: library's arithmetic is the same; float rounding may differ in the last bits, within
#: every tolerance here (test_offset_stability's kick, chaotic in the rounding, states
#: what it measured under both). (Grappler off saved 11% more, but tests that start
#: processes cannot pass that on, and a run resumed across the two settings drifts.)
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
#: Speed too: Python's full collection walks every object TensorFlow and the tests' traced
#: graphs have made, and took 2.6 of test_models' and test_callbacks' 53 CPU-seconds at
#: its default threshold (once per 10 collections of the middle generation); at one per
#: 100 it took 1.0, with 9% more peak memory (1.25 GB against 1.15). Young objects are
#: collected as often as before.
gc.set_threshold(*gc.get_threshold()[:2], 100)

#: What the tests write to the temporary directory outside their tmp_path goes under
#: this one folder, removed when the process that made it ends (`pytest_unconfigure`, or
#: `atexit` outside pytest): TensorFlow's `__autograph_generated_file*.py` (which pytest's
#: worker processes, exiting without `atexit`, would leave), the export helpers' folder,
#: and the temporary files of the processes the tests start, killed ones included. Those
#: processes, pytest's workers among them, inherit TMPDIR and AVB_KERAS_TEST_SCRATCH, and
#: use the folder of the process that made it. pytest's own tmp_path stays where it was
#: (PYTEST_DEBUG_TEMPROOT), kept after the run as usual.
if "AVB_KERAS_TEST_SCRATCH" in os.environ:
    SCRATCH, _OWN_SCRATCH = os.environ["AVB_KERAS_TEST_SCRATCH"], False
else:
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    SCRATCH, _OWN_SCRATCH = tempfile.mkdtemp(prefix="avb_keras_tests_"), True
    os.environ["AVB_KERAS_TEST_SCRATCH"] = SCRATCH
    atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
tempfile.tempdir = SCRATCH
os.environ["TMPDIR"] = SCRATCH

import tensorflow as tf  # noqa: E402
from tensorflow.python.distribute import distribute_lib  # noqa: E402

#: Speed too: tf.data's autotuning gives every iterator a thread that sleeps for up to a
#: minute between tunings, and freeing the iterator sometimes waits that sleep out (the
#: cancellation wakes the thread before marking it cancelled: benchmarks/iterator_stall.py).
#: The iterators of the tests' fits, freed by the collector long after, stalled one or two
#: tests of every full run for 25-57 s without CPU. The library's pipelines run without
#: autotuning (avb_keras/datasets/pipeline.py); the datasets Keras builds from the tests'
#: arrays pass through here (Keras distributes every dataset, on the default strategy too).
_distribute_dataset = distribute_lib.StrategyBase.experimental_distribute_dataset


def _distribute_untuned_dataset(self, dataset, options=None):
    untuned = tf.data.Options()
    untuned.autotune.enabled = False
    return _distribute_dataset(self, dataset.with_options(untuned), options)


distribute_lib.StrategyBase.experimental_distribute_dataset = _distribute_untuned_dataset

# Two logical CPU devices, so MirroredStrategy can run two replicas on one CPU.
# This must happen before TensorFlow initialises its devices.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from avb_keras import AAE, AVB, VAE, networks  # noqa: E402

#: The full MNIST, for slow tests; tests that need it skip when it is absent.
MNIST_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist.npz"

TINY_SHAPE = (4, 4, 1)

#: The seed every test and every wider fixture starts from. One fixed number (not one per
#: test id), so that renaming a test does not change its draws, and the measured errors
#: stated in the tests stay the errors of the draws the tests make.
SEED = 1234

settings.register_profile("avb_keras", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", database=None, deadline=None)
settings.load_profile("avb_keras")


def tiny_avb(latent_dim=2, encoder_type="implicit", seed=0, adversary=None, **kwargs):
    """An AVB on 4x4 images with a few units per layer (fast to build and train)."""
    if encoder_type == "moment":
        encoder = networks.moment_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,),
                                          num_basis=3, basis_units=(4,), seed=seed)
    else:
        encoder = networks.implicit_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,),
                                            noise_dim=4, seed=seed)
    decoder = networks.mlp_decoder(latent_dim, TINY_SHAPE, hidden_units=(8,))
    adversary = adversary or networks.InnerProductAdversary(hidden_units=(8,), inner_dim=4)
    kwargs.setdefault("moment_samples", 4)
    return AVB(encoder, decoder, adversary, seed=seed, **kwargs)


def tiny_vae(latent_dim=2, seed=0, **kwargs):
    encoder = networks.gaussian_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,))
    decoder = networks.mlp_decoder(latent_dim, TINY_SHAPE, hidden_units=(8,))
    return VAE(encoder, decoder, seed=seed, **kwargs)


def tiny_aae(latent_dim=2, seed=0, **kwargs):
    """An adversarial autoencoder on 4x4 images (discriminator on z alone)."""
    encoder = networks.implicit_encoder(TINY_SHAPE, latent_dim, hidden_units=(8,), noise_dim=4,
                                        seed=seed)
    decoder = networks.mlp_decoder(latent_dim, TINY_SHAPE, hidden_units=(8,))
    return AAE(encoder, decoder, networks.LatentAdversary(hidden_units=(8,)), seed=seed,
               **kwargs)


def clipped_sgd_steps(model, clipnorm=1e-3, learning_rate=100.0):
    """Compiles `model` with SGD(learning_rate) for every player, clipped to `clipnorm`,
    fits one batch, and returns {player: the largest distance a variable moved}.

    Each variable moves by learning_rate * its clipped gradient, so at most
    learning_rate * clipnorm.
    """
    model.compile(optimizer=keras.optimizers.SGD(learning_rate),
                  adversary_optimizer=keras.optimizers.SGD(learning_rate), clipnorm=clipnorm)
    before = {name: [np.asarray(v) for v in variables]
              for name, variables in model.player_variables.items()}
    model.fit(binary_images(16), batch_size=16, epochs=1, verbose=0)
    return {name: max(np.linalg.norm(np.asarray(v) - b) for v, b in zip(variables, before[name]))
            for name, variables in model.player_variables.items()}


def binary_images(n, shape=TINY_SHAPE, seed=0):
    return (np.random.default_rng(seed).random((n,) + shape) > 0.5).astype("float32")


def _global_state():
    """The process-wide settings a test might change, each with the call that restores it."""
    return {
        "the global dtype policy": (keras.config.dtype_policy().name,
                                    keras.config.set_dtype_policy),
        "keras.config.floatx": (keras.config.floatx(), keras.config.set_floatx),
        "keras.config.epsilon": (keras.config.epsilon(), keras.config.set_epsilon),
        "keras.config.image_data_format": (keras.config.image_data_format(),
                                           keras.config.set_image_data_format),
        "keras.config.max_epochs": (keras.config.max_epochs(), keras.config.set_max_epochs),
        "keras.config.max_steps_per_epoch": (keras.config.max_steps_per_epoch(),
                                             keras.config.set_max_steps_per_epoch),
        "Keras's traceback filtering": (
            keras.config.is_traceback_filtering_enabled(),
            lambda on: (keras.config.enable_traceback_filtering if on
                        else keras.config.disable_traceback_filtering)()),
        "Keras's interactive logging": (
            keras.config.is_interactive_logging_enabled(),
            lambda on: (keras.config.enable_interactive_logging if on
                        else keras.config.disable_interactive_logging)()),
        "tf.config.run_functions_eagerly": (tf.config.functions_run_eagerly(),
                                            tf.config.run_functions_eagerly),
        "the environment": (_environment(), _restore_environment),
        "the working directory": (os.getcwd(), os.chdir),
        "NumPy's error handling": (np.geterr(), lambda state: np.seterr(**state)),
    }


def _environment():
    # PYTEST_CURRENT_TEST is pytest's own, set at each phase of a test.
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


def _restore_environment(saved):
    for name in set(_environment()) - set(saved):
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _fresh_keras_state(request):
    # Without its gc.collect(): a full collection of TensorFlow's heap cost about 0.2
    # CPU-seconds a test (measured on test_cli), and Python collects on its own.
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(SEED)
    before = _global_state()
    yield
    after = _global_state()
    for name, (value, restore) in before.items():
        if after[name][0] != value:
            restore(value)
            warnings.warn(f"{request.node.nodeid} left {name} changed "
                          f"({_difference(value, after[name][0])}); restored it.")


def _difference(before, after):
    if isinstance(before, dict):
        keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return ", ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys)
    return f"{before!r} -> {after!r}"


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Module- and session-scoped fixtures start from SEED too: pytest sets them up before
    the first test's own seeding, after whatever ran before in the process."""
    if fixturedef.scope != "function":
        keras.utils.set_random_seed(SEED)
    yield


def pytest_unconfigure(config):
    if _OWN_SCRATCH:
        shutil.rmtree(SCRATCH, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """AVB_TEST_ORDER=reverse or shuffle-SEED: modules, and tests within each, reordered
    (a module's tests stay together, so module-scoped fixtures are built once)."""
    order = os.environ.get("AVB_TEST_ORDER", "")
    if not order:
        return
    modules = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    groups = list(modules.values())
    if order == "reverse":
        groups.reverse()
        for group in groups:
            group.reverse()
    elif order.startswith("shuffle-"):
        rng = random.Random(int(order.split("-", 1)[1]))
        rng.shuffle(groups)
        for group in groups:
            rng.shuffle(group)
    else:
        raise pytest.UsageError(f"AVB_TEST_ORDER must be 'reverse' or 'shuffle-SEED'; "
                                f"got {order!r}.")
    items[:] = [item for group in groups for item in group]


#: The exact maximum log-likelihood of the four_frames data: -log 4 nats per example.
FOUR_FRAMES_OPTIMUM = -math.log(4.0)
#: log p(x) of the best four_frames decoder that ignores z: p = 1/4 for each pixel.
FOUR_FRAMES_IGNORING_Z = math.log(0.25) + 3 * math.log(0.75)
FOUR_FRAMES = np.eye(4, dtype="float32").reshape(4, 2, 2, 1)


def four_frames_log_likelihood(cls, **overrides):
    """Exact log p(x) (quadrature) of `cls` trained by `model.fit` with the four_frames
    preset's budget (seed 0), averaged over the four frames."""
    from avb_keras import datasets, presets
    from avb_keras.evaluation import quadrature_log_likelihood
    keras.utils.set_random_seed(0)
    model = cls.from_preset("four_frames", seed=0, **overrides)
    # Graph mode: measured about 2x faster than XLA for this tiny preset on CPU.
    model.compile(jit_compile=False)
    data = datasets.load("four_frames", batch_size=512, seed=0)
    model.fit(data, epochs=presets.get("four_frames").epochs, verbose=0)
    return float(np.mean(quadrature_log_likelihood(model, FOUR_FRAMES)))


def four_frames_decoder_training(adaptive_contrast, epochs, seed=0):
    """(log p(x) before, log p(x) after): exact (quadrature), averaged over the four frames,
    of an AVB of the four_frames preset with `adaptive_contrast`, whose encoder is the
    shipped `four_frames_avb_ac` run's (and, for the diagonal contrast that run used, its
    adversary too) and whose decoder is freshly initialized, before and after `epochs`
    epochs (16 steps of 512 each) of the preset's training by `model.fit` (all players
    train). The encoder already separates the four frames; the decoder must learn to
    decode them, through the same training step as a run from scratch."""
    from avb_keras import datasets
    from avb_keras.evaluation import quadrature_log_likelihood
    keras.utils.set_random_seed(seed)
    trained = AVB.from_preset("four_frames_avb_ac")
    model = AVB.from_preset("four_frames", seed=seed, adaptive_contrast=adaptive_contrast)
    model.encoder.set_weights(trained.encoder.get_weights())
    if adaptive_contrast is True:
        model.adversary.set_weights(trained.adversary.get_weights())
    model.compile(jit_compile=False)  # graph mode, as four_frames_log_likelihood
    before = float(np.mean(quadrature_log_likelihood(model, FOUR_FRAMES)))
    data = datasets.load("four_frames", batch_size=512, seed=seed)
    model.fit(data, epochs=epochs, verbose=0)
    return before, float(np.mean(quadrature_log_likelihood(model, FOUR_FRAMES)))


def check_four_frames_short_training(adaptive_contrast, epochs, min_gain, max_gap):
    """A short training of a fresh decoder behind the shipped four_frames encoder
    (`four_frames_decoder_training`) must start well below the best decoder that ignores
    z, gain more than `min_gain` nats, and end within `max_gap` of the optimum."""
    before, after = four_frames_decoder_training(adaptive_contrast, epochs=epochs)
    print(f"four_frames AVB+AC ({adaptive_contrast}), fresh decoder: log p(x) {before:.4f} "
          f"-> {after:.4f} in {epochs} epochs (optimum {FOUR_FRAMES_OPTIMUM:.4f})")
    assert before < FOUR_FRAMES_IGNORING_Z - 0.3
    assert after - before > min_gain
    assert FOUR_FRAMES_OPTIMUM - max_gap < after <= FOUR_FRAMES_OPTIMUM


def load_script(relative_path):
    """A script of the repository (examples/, benchmarks/) imported as a module."""
    import importlib.util
    path = Path(__file__).resolve().parents[1] / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def narrow_correlated_posterior():
    """(model, x, exact, p0): a `linear_gaussian` model whose posterior widths span 70x
    (0.010 to 0.70) with correlations up to 0.79, and p0 = N(mean + sd / 2, 2 Sigma),
    a full-covariance start of the right shape but off the posterior."""
    import tensorflow_probability as tfp

    from avb_keras.evaluation.linear_gaussian import exact_posterior, linear_gaussian
    model, x, exact = linear_gaussian(latent_dim=8, data_dim=16, noise_scale=0.1,
                                      num_examples=16, latent_scales=np.logspace(-1.5, 0.5, 8))
    posterior = exact_posterior(model, x)
    sigma = posterior.covariance().numpy()
    p0 = tfp.distributions.MultivariateNormalTriL(
        (posterior.mean() + 0.5 * posterior.stddev()).numpy().astype("float32"),
        np.linalg.cholesky(2.0 * sigma).astype("float32"))
    return model, x, exact, p0
