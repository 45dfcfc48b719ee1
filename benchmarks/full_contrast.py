"""Full-covariance against diagonal Adaptive Contrast on a correlated Gaussian q.

q(z|x) = N(m(x), S) with a fixed linear m(x) and S = s^2 [(1 - rho) I + rho 1 1^T]
(every pair of latent dimensions correlated by rho), so KL(q || p) is known in
closed form. Only the adversary trains (the encoder is fixed); after each budget
of adversary steps the model's KL estimate (mean over 4096 images) is compared
with the analytic KL, for Adaptive Contrast "full" and "diagonal", with and
without the adversary's analytic prior term +1/2 ||z~||^2.

    python benchmarks/full_contrast.py --out benchmarks/results/full_contrast.json

Prints one line per (contrast, prior term, seed, steps) and writes them as JSON.

`--moments analytic` gives AVB q's exact moments (the encoder returns them, as
the moment encoder does), so r(z|x) is exact and only the contrast differs;
`--moments monte_carlo` estimates them from `--moment-samples` draws per x,
whose fitting noise costs E KL(q || r_K) ~ (d + d(d+1)/2) / (2K) nats that no
adversary can see (r changes at every step): about d(d+3)/(4K) for a full r.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from avb_keras import AVB, networks  # noqa: E402

tfd = tfp.distributions
DATA_SHAPE = (2, 2, 1)


@keras.saving.register_keras_serializable(package="avb_keras_benchmarks")
class CorrelatedNoise(keras.layers.Layer):
    """z = m + L eps, eps ~ N(0, I), for a fixed lower-triangular L (inputs: m)."""

    def __init__(self, scale_tril, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.scale_tril = np.asarray(scale_tril, "float32")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, mean):
        eps = keras.random.normal(tf.shape(mean), seed=self.seed_generator)
        return mean + tf.linalg.matvec(self.scale_tril, eps)


@keras.saving.register_keras_serializable(package="avb_keras_benchmarks")
class ExactMoments(keras.layers.Layer):
    """q's moments for each x (inputs: m): {"variance", "covariance"} of S = L L^T."""

    def __init__(self, scale_tril, **kwargs):
        super().__init__(**kwargs)
        self.scale_tril = np.asarray(scale_tril, "float32")

    def call(self, mean):
        covariance = tf.constant(self.scale_tril @ self.scale_tril.T)
        batch = tf.shape(mean)[0]
        return (tf.tile(tf.linalg.diag_part(covariance)[None], [batch, 1]),
                tf.tile(covariance[None], [batch, 1, 1]))


def correlated_q(latent_dim, rho, scale, seed, analytic=False):
    """(encoder, m(x) function, covariance S) of the fixed correlated Gaussian q; with
    `analytic` the encoder also returns q's exact moments."""
    rng = np.random.default_rng(seed)
    covariance = scale ** 2 * ((1 - rho) * np.eye(latent_dim) + rho)
    x = keras.Input(DATA_SHAPE)
    mean_layer = keras.layers.Dense(latent_dim, trainable=False, name="m")
    mean = mean_layer(keras.layers.Flatten()(x))
    mean_layer.set_weights([rng.normal(0, 1.0, (4, latent_dim)), rng.normal(0, 0.5, latent_dim)])
    scale_tril = np.linalg.cholesky(covariance)
    z = CorrelatedNoise(scale_tril, seed=seed)(mean)
    if not analytic:
        return keras.Model(x, z), keras.Model(x, mean), covariance.astype("float32")
    variance, full = ExactMoments(scale_tril)(mean)
    outputs = {"z": z, "mean": mean, "variance": variance, "covariance": full}
    return keras.Model(x, outputs), keras.Model(x, mean), covariance.astype("float32")


def analytic_kl(mean, covariance):
    """KL(N(m, S) || N(0, I)) per example."""
    d = covariance.shape[0]
    _, logdet = np.linalg.slogdet(covariance)
    return 0.5 * (np.trace(covariance) + np.sum(mean ** 2, axis=-1) - d - logdet)


def run(adaptive_contrast, prior_term, seed, budgets, latent_dim, rho, scale, batch,
        moment_samples, adversary_rate, moments):
    keras.utils.set_random_seed(seed)
    encoder, mean_of, covariance = correlated_q(latent_dim, rho, scale, seed,
                                                analytic=moments == "analytic")
    model = AVB(encoder, networks.mlp_decoder(latent_dim, DATA_SHAPE, hidden_units=(8,)),
                networks.InnerProductAdversary(hidden_units=(64, 64), inner_dim=32,
                                               prior_term=prior_term),
                adaptive_contrast=adaptive_contrast, moment_samples=moment_samples, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  adversary_optimizer=keras.optimizers.Adam(adversary_rate, beta_1=0.5))
    rng = np.random.default_rng(seed + 100)
    step = tf.function(model.adversary_step)
    x_eval = rng.random((4096,) + DATA_SHAPE).astype("float32")
    exact = float(np.mean(analytic_kl(mean_of(x_eval).numpy(), covariance)))
    rows, done = [], 0
    for steps in budgets:
        for _ in range(steps - done):
            step(tf.constant(rng.random((batch,) + DATA_SHAPE).astype("float32")))
        done = steps
        estimate = float(np.mean(model.compute_terms(tf.constant(x_eval))["kl"]))
        rows.append(dict(adaptive_contrast=adaptive_contrast, prior_term=prior_term, seed=seed,
                         moments=moments,
                         adversary_steps=steps, estimate=estimate, analytic=exact,
                         error=estimate - exact))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/full_contrast.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--budgets", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--rho", type=float, default=0.6)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--moment-samples", type=int, default=64)
    parser.add_argument("--adversary-rate", type=float, default=2e-3)
    parser.add_argument("--moments", choices=("analytic", "monte_carlo"), default="monte_carlo")
    parser.add_argument("--contrasts", nargs="+", default=["full", "diagonal"])
    parser.add_argument("--prior-terms", nargs="+", type=int, default=[1, 0],
                        help="1: the adversary adds +1/2 ||z~||^2; 0: it does not")
    args = parser.parse_args(argv)
    start, rows = time.time(), []
    for adaptive_contrast in args.contrasts:
        for prior_term in map(bool, args.prior_terms):
            for seed in args.seeds:
                rows += run(adaptive_contrast, prior_term, seed, args.budgets, args.latent_dim,
                            args.rho, args.scale, args.batch, args.moment_samples,
                            args.adversary_rate, args.moments)
    result = {"command": "python " + " ".join(sys.argv), "settings": vars(args),
              "seconds": round(time.time() - start, 1), "rows": rows}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
