"""Eight Schools by AVB, against NUTS and ADVI (Mescheder et al. 2017, section 6.1).

The hierarchical model of the paper's black-box inference experiment (the data
scaled by 1/10, as in the authors' released notebook):

    mu, tau ~ N(0, 1),   eta_j ~ N(0, 1),   theta_j = mu + tau * eta_j,
    y_j ~ N(theta_j, sigma_j^2),   j = 1..8

Four posteriors over the 10 parameters (mu, tau, eta_1..8), in one run:
- NUTS (`tfp.mcmc.NoUTurnSampler`, dual-averaging step size): the reference;
- AVB with Adaptive Contrast (`avb_keras.AdversarialVI`, batch 512, two
  adversary steps per sampler step, as in the paper);
- ADVI mean-field and full-rank (`tfp.vi.fit_surrogate_posterior`).

With --full, AVB also runs at the default budget and at the full budget with
constant rates, beside the full budget with a moving average of the sampler's
weights (momentum 0.999; `avb_keras.optimizers`), all in the same run: does a
longer budget help once the iterates are averaged? (A cosine decay of both
rates collapses the sampler onto one mode of tau; docs/RESULTS.md.)

For each method and parameter: the two-sample Kolmogorov-Smirnov statistic
against the NUTS samples (the paper's measure; lower is better). Writes
`eight_schools.json` (the table and the budget) and `eight_schools.png`
(mu against tau for each method, over the NUTS samples) to --out.

    python examples/eight_schools.py --out runs/eight_schools           # minutes on 2 CPUs
    python examples/eight_schools.py --out runs/eight_schools --full    # the full budget
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from avb_keras import AdversarialVI  # noqa: E402

tfd = tfp.distributions

Y = np.array([2.8, 0.8, -0.3, 0.7, -0.1, 0.1, 1.8, 1.2], "float32")
SIGMA = np.array([0.8, 0.5, 0.8, 0.6, 0.5, 0.6, 0.5, 0.4], "float32")
PARAMETERS = ["mu", "tau"] + [f"eta_{j}" for j in range(1, 9)]

BUDGETS = {
    # NUTS: chains x (burn-in + draws); AVB: sampler steps; ADVI: optimizer steps.
    "default": dict(nuts_chains=4, nuts_burnin=500, nuts_draws=1000, avb_steps=3000,
                    advi_steps=2000, samples=4000),
    "full": dict(nuts_chains=8, nuts_burnin=2000, nuts_draws=5000, avb_steps=20000,
                 advi_steps=10000, samples=20000),
}


def joint_distribution():
    """p(mu, tau, eta, y) as a tfp JointDistribution."""
    return tfd.JointDistributionNamed(dict(
        mu=tfd.Normal(0.0, 1.0),
        tau=tfd.Normal(0.0, 1.0),
        eta=tfd.Sample(tfd.Normal(0.0, 1.0), 8),
        y=lambda mu, tau, eta: tfd.Independent(
            tfd.Normal(mu[..., None] + tau[..., None] * eta, SIGMA), 1)))


def posterior():
    """The unnormalized posterior: the joint pinned to the observed y."""
    return joint_distribution().experimental_pin(y=Y)


def as_matrix(samples):
    """{mu, tau, eta} samples -> [n, 10] in the order of PARAMETERS."""
    return np.concatenate([np.asarray(samples["mu"])[:, None], np.asarray(samples["tau"])[:, None],
                           np.asarray(samples["eta"])], axis=1)


def log_density(z):
    """log p(mu, tau, eta, y) on [n, 10] vectors (all parameters are unconstrained)."""
    return posterior().unnormalized_log_prob(dict(mu=z[:, 0], tau=z[:, 1], eta=z[:, 2:]))


def run_nuts(budget, seed):
    kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
        tfp.mcmc.NoUTurnSampler(log_density, step_size=0.1),
        num_adaptation_steps=int(0.8 * budget["nuts_burnin"]), target_accept_prob=0.8)

    @tf.function(jit_compile=True)
    def sample():
        return tfp.mcmc.sample_chain(
            budget["nuts_draws"], tf.zeros([budget["nuts_chains"], 10]), kernel=kernel,
            num_burnin_steps=budget["nuts_burnin"], trace_fn=None,
            seed=tf.constant([seed, 1]))

    return sample().numpy().reshape(-1, 10)


#: The settings of the averaged AVB run of --full (compile's ema).
AVERAGED = dict(ema=0.999)


def run_avb(budget, seed, steps=None, **optimization):
    """AVB+AC samples after `steps` (default the budget's) with compile(**optimization)."""
    keras.utils.set_random_seed(seed)
    steps = steps or budget["avb_steps"]
    model = AdversarialVI.for_target(posterior(), batch_size=512, adversary_steps=2, seed=seed)
    schedule = {"decay_steps": steps} if "lr_schedule" in optimization else {}
    model.compile(**optimization, **schedule)
    model.fit(steps_per_epoch=steps, epochs=1, verbose=0)
    return as_matrix(model.sample(budget["samples"], seed=seed))


def methods(full):
    """{name: run(budget, seed)} in the order they run."""
    avb = {"AVB+AC": run_avb}
    if full:
        default_steps = BUDGETS["default"]["avb_steps"]
        avb = {f"AVB+AC {default_steps} steps": lambda b, s: run_avb(b, s, default_steps),
               "AVB+AC": run_avb,
               "AVB+AC EMA": lambda b, s: run_avb(b, s, **AVERAGED)}
    return {"NUTS": run_nuts, **avb,
            "ADVI mean-field": lambda b, s: run_advi(b, s, False),
            "ADVI full-rank": lambda b, s: run_advi(b, s, True)}


def run_advi(budget, seed, full_rank):
    target = posterior()
    event_shape = target.event_shape
    if full_rank:
        surrogate = tfp.experimental.vi.build_affine_surrogate_posterior(
            event_shape, operators="tril", seed=seed)
    else:
        surrogate = tfp.experimental.vi.build_factored_surrogate_posterior(event_shape, seed=seed)
    tfp.vi.fit_surrogate_posterior(
        target.unnormalized_log_prob, surrogate, keras.optimizers.Adam(1e-2),
        num_steps=budget["advi_steps"], sample_size=16, seed=(seed, 2),
        jit_compile=True)
    return as_matrix(surrogate.sample(budget["samples"], seed=(seed, 3)))


def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov statistic sup_t |F_a(t) - F_b(t)|."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                               - np.searchsorted(b, grid, side="right") / len(b))))


def plot(samples, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(samples)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4), sharex=True,
                             sharey=True)
    reference = samples["NUTS"]
    for ax, method in zip(axes, names):
        ax.scatter(reference[:2000, 0], reference[:2000, 1], s=2, c="0.75", label="NUTS")
        if method != "NUTS":
            ax.scatter(samples[method][:2000, 0], samples[method][:2000, 1], s=2, c="C0",
                       label=method)
        ax.set_title(method)
        ax.set_xlabel("mu")
    axes[0].set_ylabel("tau")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/eight_schools"),
                        help="output folder for eight_schools.json and eight_schools.png")
    parser.add_argument("--full", action="store_true", help="the full budget (slower)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    budget = BUDGETS["full" if args.full else "default"]
    args.out.mkdir(parents=True, exist_ok=True)

    samples, seconds = {}, {}
    for method, run in methods(args.full).items():
        start = time.time()
        samples[method] = run(budget, args.seed)
        seconds[method] = round(time.time() - start, 1)
        print(f"{method}: {seconds[method]} s", flush=True)

    ks = {method: {p: ks_statistic(samples[method][:, i], samples["NUTS"][:, i])
                   for i, p in enumerate(PARAMETERS)}
          for method in samples if method != "NUTS"}
    result = {"budget": "full" if args.full else "default", **budget, "seed": args.seed,
              "seconds": seconds, "ks": ks,
              "posterior_mean": {m: dict(zip(PARAMETERS, s.mean(0).round(3).tolist()))
                                 for m, s in samples.items()},
              "command": "python examples/eight_schools.py " + " ".join(sys.argv[1:] if argv is None
                                                                        else argv)}
    (args.out / "eight_schools.json").write_text(json.dumps(result, indent=2))
    plot(samples, args.out / "eight_schools.png")

    print(f"{'KS vs NUTS':>16s}" + "".join(f"{p:>8s}" for p in PARAMETERS))
    for method, row in ks.items():
        print(f"{method:>16s}" + "".join(f"{row[p]:8.3f}" for p in PARAMETERS))
    print(f"Wrote {args.out / 'eight_schools.json'} and {args.out / 'eight_schools.png'}")
    return result


if __name__ == "__main__":
    main()
