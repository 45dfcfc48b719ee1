"""The adversary learns log q(z|x) - log p(z); Adaptive Contrast recovers the KL.

A fixed Gaussian "implicit" encoder z = m(x) + s(x) * eps has a density we know,
so what the adversary should learn is known in closed form:

    T*(x, z) = log N(z; m(x), s(x)^2) - log N(z; 0, I)
    KL(q(z|x) || p(z)) = sum_j [ -log s_j + (s_j^2 + m_j^2 - 1) / 2 ]
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from avb_keras import AVB, networks
from avb_keras.networks import StandardNormalNoise

tfd = tfp.distributions
DATA_SHAPE, LATENT = (2, 2, 1), 2


def fixed_gaussian_encoder(seed=0):
    """z = m(x) + s(x) eps with fixed linear m and log s; returns (encoder, moments)."""
    rng = np.random.default_rng(seed)
    x = keras.Input(DATA_SHAPE)
    h = keras.layers.Flatten()(x)
    mean_layer = keras.layers.Dense(LATENT, trainable=False, name="m")
    log_scale_layer = keras.layers.Dense(LATENT, trainable=False, name="log_s")
    mean, log_scale = mean_layer(h), log_scale_layer(h)
    mean_layer.set_weights([rng.normal(0, 1.0, (4, LATENT)), np.array([0.5, -0.5])])
    log_scale_layer.set_weights([rng.normal(0, 0.4, (4, LATENT)), np.array([-0.7, -0.3])])
    eps = StandardNormalNoise(LATENT, seed=seed)(h)
    z = mean + keras.ops.exp(log_scale) * eps
    return keras.Model(x, z), keras.Model(x, [mean, keras.ops.exp(log_scale)])


def gaussian_q_model(adaptive_contrast, seed=0, adversary_rate=2e-3):
    encoder, moments = fixed_gaussian_encoder(seed)
    model = AVB(encoder,
                networks.mlp_decoder(LATENT, DATA_SHAPE, hidden_units=(8,)),
                networks.InnerProductAdversary(hidden_units=(64, 64), inner_dim=32),
                adaptive_contrast=adaptive_contrast, moment_samples=64, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  adversary_optimizer=keras.optimizers.Adam(adversary_rate, beta_1=0.5))
    return model, moments


def random_x(n, rng):
    return rng.random((n,) + DATA_SHAPE).astype("float32")


def train_adversary(model, steps, rng, batch=512, per_call=100):
    """`steps` adversary steps, each on `batch` fresh x from `rng`, `per_call` of them in
    one graph call (the same x and steps as one call each, without the per-call cost)."""
    @tf.function(autograph=False)
    def run(xs):
        def step(i):
            model.adversary_step(xs[i])
            return i + 1
        tf.while_loop(lambda i: i < tf.shape(xs)[0], step, [tf.constant(0)])

    for start in range(0, steps, per_call):
        n = min(per_call, steps - start)
        run(tf.constant(random_x(n * batch, rng).reshape((n, batch) + DATA_SHAPE)))


def test_adversary_learns_the_log_density_ratio():
    rng = np.random.default_rng(0)
    model, moments = gaussian_q_model(adaptive_contrast=False, adversary_rate=5e-4)
    train_adversary(model, 3000, rng, batch=1024)

    x = random_x(4096, rng)
    z = model.encode(x)
    mean, scale = moments(x)
    q = tfd.Independent(tfd.Normal(mean, scale), 1)
    true_ratio = (q.log_prob(z) - model.prior.log_prob(z)).numpy()
    t = model.adversary((x, z)).numpy()
    correlation = np.corrcoef(t, true_ratio)[0, 1]
    mae = np.abs(t - true_ratio).mean()
    print(f"T vs log q - log p on held-out q-samples: correlation {correlation:.4f}, "
          f"MAE {mae:.3f} nats (spread of the target {true_ratio.std():.2f})")
    # Reached with seed 0: correlation 0.928, MAE 0.35 nats (target spread 1.23). Plain
    # AVB's adversary plateaus there (more steps or a lower rate do not help); an
    # untrained or sign-flipped T gives a correlation near 0 or below. Over 3 runs
    # (tests/tolerance_measurements.py adversary: these weights and data, and two other
    # initial weights and data streams): correlation 0.918-0.927, MAE 0.354-0.382.
    assert correlation > 0.9
    assert mae < 0.45


@pytest.mark.parametrize("adaptive_contrast", [True, "full"])
def test_adaptive_contrast_kl_estimate_matches_the_analytic_kl(adaptive_contrast):
    rng = np.random.default_rng(1)
    model, moments = gaussian_q_model(adaptive_contrast)
    train_adversary(model, 1500, rng)

    x = random_x(4096, rng)
    mean, scale = moments(x)
    analytic = tfd.kl_divergence(tfd.Independent(tfd.Normal(mean, scale), 1), model.prior)
    estimate = model.compute_terms(tf.constant(x))["kl"]
    analytic, estimate = float(tf.reduce_mean(analytic)), float(tf.reduce_mean(estimate))
    print(f"adaptive_contrast={adaptive_contrast}: KL estimate {estimate:.4f}, "
          f"analytic {analytic:.4f}")
    # Measured estimate - analytic after 1500 steps, model seeds 0-3 (rng seeds 1-4), with
    # the Monte Carlo moments drawn apart from the z they normalize: -0.089, -0.004,
    # -0.010, -0.012 (diagonal); -0.101, -0.026, -0.015, -0.019 (full covariance). (With
    # moments that included z, tests/tolerance_measurements.py adversary gave -0.053 to
    # -0.031 over 6 runs.) Tolerance: the worst of these, rounded up.
    assert estimate == pytest.approx(analytic, abs=0.11)


def test_moment_encoder_moments_match_monte_carlo():
    encoder = networks.moment_encoder(DATA_SHAPE, 3, hidden_units=(16,), num_basis=4,
                                      basis_units=(8,), seed=0)
    # Make a_i(x) of order one (they start near e^-5) so the noise part matters.
    a = encoder.get_layer("a")
    a.set_weights([a.get_weights()[0], np.full(a.get_weights()[1].shape, 5.5, "float32")])
    x = np.repeat(random_x(1, np.random.default_rng(2)), 20000, axis=0)
    out = encoder(x)
    analytic_mean, analytic_variance = out["mean"].numpy()[0], out["variance"].numpy()[0]
    fresh = encoder(x)["z"].numpy()  # new noise: an independent Monte Carlo estimate
    print("analytic", analytic_mean, analytic_variance, "MC", fresh.mean(0), fresh.var(0))
    assert analytic_variance.min() > 0.05
    np.testing.assert_allclose(fresh.mean(0), analytic_mean,
                               atol=4 * np.sqrt(analytic_variance.max() / 20000))
    np.testing.assert_allclose(fresh.var(0), analytic_variance, rtol=0.05)
