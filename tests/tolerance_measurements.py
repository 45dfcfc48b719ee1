"""The measurements behind the numerical tolerances stated in the tests (not a test module).

    PYTHONPATH=. python tests/tolerance_measurements.py NAME [NAME ...]   # or "all"

Each measurement repeats what a test computes over several seeds and prints the errors
it saw; the test's comment quotes the largest ("observed max error X over N seeds;
tolerance Y"). The seeds vary both the draws (AIS chains, noise) and, where a model is
built, its initial weights (Keras's global seed). Where the arithmetic can differ
between machines (XLA on or off, another CPU's kernels), a fixed seed is no protection:
HMC's accept/reject decisions and a training run amplify round-off into another Monte
Carlo draw, so a tolerance must cover the spread over seeds, not one lucky draw.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import conftest  # noqa: E402,F401  (two logical CPUs, before TensorFlow starts)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from avb_keras import AVB  # noqa: E402
from avb_keras.evaluation import (ais_log_likelihood, iwae_bound,  # noqa: E402
                                  quadrature_log_likelihood)
from avb_keras.evaluation.linear_gaussian import linear_gaussian  # noqa: E402

FRAMES = np.eye(4, dtype="float32").reshape(4, 2, 2, 1)


def fresh(seed):
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)


def report(name, values):
    values = np.asarray(values, dtype=float)
    print(f"  {name}: max {values.max():.4g}, min {values.min():.4g}, mean {values.mean():.4g}"
          f" over {values.size}", flush=True)


def four_frames_short_training():
    """test_four_frames.py::test_a_short_training_of_the_decoder_closes_most_of_the_gap and
    its full-contrast twin: conftest.four_frames_decoder_training over seeds."""
    from conftest import FOUR_FRAMES_OPTIMUM, four_frames_decoder_training
    for contrast in (True, "full"):
        rows = []
        for seed in range(6):
            before, after = four_frames_decoder_training(contrast, epochs=8, seed=seed)
            rows.append((before, after, after - before, FOUR_FRAMES_OPTIMUM - after))
            print(f"contrast {contrast} seed {seed}: log p(x) {before:.4f} -> {after:.4f}",
                  flush=True)
        for i, name in enumerate(("before", "after 8 epochs", "gain", "gap to the optimum")):
            report(f"contrast {contrast}: {name}", [r[i] for r in rows])


def four_frames_ais():
    """test_ais.py::test_ais_matches_quadrature_on_four_frames: initial weights, 500 steps."""
    rows = []
    for weights_seed in (1234, 0, 1, 2, 3, 4):
        fresh(weights_seed)
        model = AVB.from_preset("four_frames", seed=0 if weights_seed == 1234 else weights_seed)
        exact = quadrature_log_likelihood(model, FRAMES)
        runs = [(s, True) for s in ((7,) + tuple(range(10)) if weights_seed == 1234 else (7,))]
        if weights_seed == 1234:
            runs += [(7, False), (8, False)]
        for ais_seed, jit in runs:
            for initial in (None, "prior"):
                r = ais_log_likelihood(model, FRAMES, num_steps=500, seed=ais_seed,
                                       initial=initial, jit_compile=jit)
                error = r.log_likelihood - exact
                rows.append((initial, np.abs(error).max(),
                             np.max(np.abs(error) - 4 * r.standard_error), r.standard_error.max()))
                print(f"weights {weights_seed} ais seed {ais_seed} jit {jit} p0 {initial}: "
                      f"error {np.round(error, 4)} se {np.round(r.standard_error, 4)}", flush=True)
    for initial in (None, "prior"):
        print(f"p0 {initial}:")
        report("max |AIS - exact| per run", [r[1] for r in rows if r[0] == initial])
        report("max (|AIS - exact| - 4 se) per run", [r[2] for r in rows if r[0] == initial])
        report("max se per run", [r[3] for r in rows if r[0] == initial])


def ais_closed_form():
    """test_ais.py::test_ais_matches_the_closed_form_at_default_settings (and the exact p0)."""
    model, x, exact = linear_gaussian()
    rows = {"prior": [], "encoder": []}
    for seed in range(1, 9):
        values = {}
        for initial, initial_rows in rows.items():
            r = ais_log_likelihood(model, x, seed=seed, initial=initial, jit_compile=seed > 6)
            error = r.log_likelihood - exact
            values[initial] = r.log_likelihood
            initial_rows.append((np.mean(np.abs(error)),
                                 np.max(np.abs(error) - 4 * r.standard_error),
                                 np.mean(r.acceptance_rate)))
        agree = np.mean(np.abs(values["prior"] - values["encoder"]))
        print(f"seed {seed}: " + ", ".join(f"{k}: mae {v[-1][0]:.4f}, max(|e| - 4se) "
                                           f"{v[-1][1]:.4f}, acceptance {v[-1][2]:.3f}"
                                           for k, v in rows.items())
              + f"; prior vs encoder {agree:.4f}", flush=True)
    for initial, values in rows.items():
        print(f"p0 {initial}:")
        for i, name in enumerate(("mean |error|", "max (|error| - 4 se)", "acceptance")):
            report(name, [v[i] for v in values])
    small, x, exact = linear_gaussian(latent_dim=1, num_examples=8)
    errors = []
    for seed in range(3, 11):
        r = ais_log_likelihood(small, x, num_steps=5, seed=seed, initial="encoder")
        errors.append((np.abs(r.log_likelihood - exact).max(),
                       np.abs(r.effective_sample_size / 16 - 1).max(),
                       np.abs(iwae_bound(small, x, num_samples=1, seed=seed) - exact).max()))
    print("exact p0 (test_exact_posterior_as_p0_gives_exact_weights):")
    for i, name in enumerate(("|AIS - exact|", "|ESS / 16 - 1|", "|IWAE_1 - exact|")):
        report(name, [e[i] for e in errors])


def ais_steps():
    """test_ais.py::test_ais_error_shrinks_as_num_steps_grows."""
    model, x, exact = linear_gaussian()
    ratios, short_means = [], []
    for seed in range(2, 10):
        mae, means = [], []
        for num_steps in (10, 100, 1000):
            r = ais_log_likelihood(model, x, num_steps=num_steps, seed=seed, initial="prior",
                                   jit_compile=num_steps == 1000)
            mae.append(np.mean(np.abs(r.log_likelihood - exact)))
            means.append(np.mean(r.log_likelihood - exact))
        ratios.append(mae[2] / mae[0])
        short_means.append(means[0])
        print(f"seed {seed}: mae {np.round(mae, 4)}, mean error at 10 steps {means[0]:.4f}",
              flush=True)
    report("mae(1000) / mae(10)", ratios)
    for seed in range(10, 42):  # 10 steps alone are cheap: 40 seeds in all
        r = ais_log_likelihood(model, x, num_steps=10, seed=seed, initial="prior")
        short_means.append(np.mean(r.log_likelihood - exact))
    report("mean error at 10 steps", short_means)
    print(f"  seeds above 0: {np.sum(np.asarray(short_means) > 0)}", flush=True)


def moment_p0():
    """test_ais.py::test_moment_encoder_p0_has_q_moments_at_batch_size_one."""
    from conftest import binary_images, tiny_avb

    from avb_keras import contrast
    from avb_keras.evaluation import initial_distribution
    rows = []
    for weights_seed, seed in ((1234, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)):
        fresh(weights_seed)
        model = tiny_avb(encoder_type="moment", seed=seed)
        dense = model.encoder.get_layer("a")
        dense.bias.assign(tf.fill(dense.bias.shape, 5.0))
        x = binary_images(1)
        r = initial_distribution(model, tf.constant(x))
        draws = model.encoder(np.repeat(x, 4000, axis=0))["z"].numpy()
        mean_error = np.abs(np.asarray(r.mean())[0] - draws.mean(0)).max() / draws.std(0).max()
        stddev = np.sqrt(draws.var(0) + contrast.VARIANCE_FLOOR)
        rows.append((mean_error, np.abs(np.asarray(r.stddev())[0] / stddev - 1).max()))
        print(f"weights {weights_seed} seed {seed}: {np.round(rows[-1], 4)}", flush=True)
    report("max |mean - MC mean| / max MC std", [r[0] for r in rows])
    report("max |stddev / MC stddev - 1|", [r[1] for r in rows])


def trained_vae():
    """test_ais.py::test_ais_is_above_the_iwae_bound_on_a_trained_vae."""
    from conftest import binary_images, tiny_vae
    rows = []
    for weights_seed, ais_seed in ((1234, 4), (1234, 14), (1234, 24), (0, 4), (1, 4), (2, 4)):
        fresh(weights_seed)
        model = tiny_vae()
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        model.fit(binary_images(256), batch_size=32, epochs=5, verbose=0)
        x = binary_images(16, seed=1)
        r = ais_log_likelihood(model, x, num_steps=500, seed=ais_seed, jit_compile=True)
        ais = r.log_likelihood
        iwae_1 = iwae_bound(model, x, num_samples=1, seed=ais_seed + 1)
        iwae_1000 = iwae_bound(model, x, num_samples=1000, seed=ais_seed + 2)
        exact = quadrature_log_likelihood(model, x, grid_size=200)
        rows.append((np.mean(iwae_1) - np.mean(iwae_1000), np.mean(iwae_1000) - np.mean(ais),
                     np.mean(iwae_1000) - np.mean(exact), np.mean(np.abs(ais - exact)),
                     np.max(np.abs(ais - exact) - 4 * r.standard_error)))
        print(f"weights {weights_seed} ais seed {ais_seed}: {np.round(rows[-1], 4)}", flush=True)
    for i, name in enumerate(("mean IWAE_1 - mean IWAE_1000", "mean IWAE_1000 - mean AIS",
                              "mean IWAE_1000 - mean exact", "mean |AIS - exact|",
                              "max (|AIS - exact| - 4 se)")):
        report(name, [r[i] for r in rows])


def adversarial_vi():
    """test_adversarial_vi.py: Gaussian moments, ELBO, accuracy; the pinned scale's mean."""
    import test_adversarial_vi as t
    rows, scale_errors = [], []
    exact_scale = t.scale_posterior_mean()
    for weights_seed, model_seed in ((1234, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6),
                                     (7, 7)):
        fresh(weights_seed)
        model = t.AdversarialVI.for_target(t.GAUSSIAN.log_prob, dim=2, hidden_units=(64, 64),
                                           adversary_units=(64, 64), seed=model_seed,
                                           batch_size=256)
        model.compile()
        model.fit(steps_per_epoch=1500, epochs=1, verbose=0)
        final = model.evaluate(steps=20, verbose=0, return_dict=True)
        z = model.sample(20000, seed=1).numpy()
        rows.append((np.abs(z.mean(0) - t.MEAN).max(), np.abs(np.cov(z.T) - t.COV).max(),
                     final["elbo"], final["adversary_accuracy"]))
        print(f"gaussian, weights {weights_seed} seed {model_seed}: {np.round(rows[-1], 4)}",
              flush=True)
        if model_seed > 3:  # the pinned target: four seeds
            continue
        fresh(weights_seed)
        model = t.AdversarialVI.for_target(t.scale_model().experimental_pin(y=t.Y),
                                           hidden_units=(64, 64), adversary_units=(64, 64),
                                           seed=model_seed, batch_size=256)
        model.compile()
        model.fit(steps_per_epoch=800, epochs=1, verbose=0)
        scale = model.sample(20000, seed=1)["scale"].numpy()
        scale_errors.append(abs(scale.mean() - exact_scale))
        print(f"scale, weights {weights_seed} seed {model_seed}: |mean - exact| "
              f"{scale_errors[-1]:.4f}", flush=True)
    for i, name in enumerate(("max |mean - MEAN|", "max |cov - COV|", "ELBO",
                              "adversary accuracy")):
        report(name, [r[i] for r in rows])
    report("|E[scale] - exact|", scale_errors)


def adversary():
    """test_adversary.py: the Adaptive Contrast KL estimate and plain AVB's T, for the
    tests' encoder (seed 0) with other initial weights and data."""
    import tensorflow_probability as tfp
    import test_adversary as t
    tfd = tfp.distributions
    kl_errors, fits = [], []
    for weights_seed, data_seed in ((1234, 1), (1, 11), (2, 12), (3, 13), (4, 14), (5, 15)):
        fresh(weights_seed)
        rng = np.random.default_rng(data_seed)
        model, moments = t.gaussian_q_model(True)
        t.train_adversary(model, 1500, rng)
        x = t.random_x(4096, rng)
        mean, scale = moments(x)
        analytic = float(tf.reduce_mean(tfd.kl_divergence(
            tfd.Independent(tfd.Normal(mean, scale), 1), model.prior)))
        estimate = float(tf.reduce_mean(model.compute_terms(tf.constant(x))["kl"]))
        kl_errors.append(estimate - analytic)
        print(f"AC, weights {weights_seed} data {data_seed}: estimate {estimate:.4f}, analytic "
              f"{analytic:.4f}", flush=True)
    for weights_seed, data_seed in ((1234, 0), (1, 10), (2, 20)):
        fresh(weights_seed)
        rng = np.random.default_rng(data_seed)
        model, moments = t.gaussian_q_model(False, adversary_rate=5e-4)
        t.train_adversary(model, 3000, rng, batch=1024)
        x = t.random_x(4096, rng)
        z = model.encode(x)
        mean, scale = moments(x)
        q = tfd.Independent(tfd.Normal(mean, scale), 1)
        true_ratio = (q.log_prob(z) - model.prior.log_prob(z)).numpy()
        t_x = model.adversary((x, z)).numpy()
        fits.append((np.corrcoef(t_x, true_ratio)[0, 1], np.abs(t_x - true_ratio).mean()))
        print(f"plain, weights {weights_seed} data {data_seed}: correlation {fits[-1][0]:.4f}, "
              f"MAE {fits[-1][1]:.4f}", flush=True)
    report("AC KL estimate - analytic", kl_errors)
    report("plain T correlation", [f[0] for f in fits])
    report("plain T MAE", [f[1] for f in fits])


def aae():
    """test_aae.py::test_adversary_sees_z_alone_and_estimates_the_aggregate_kl."""
    from test_aae import z_only_aae_fit
    rows = []
    for weights_seed, seed in ((1234, 0), (1, 1), (2, 2), (3, 3)):
        fresh(weights_seed)
        bulk_error, t_mean, kl_mean, _ = z_only_aae_fit(seed)
        rows.append((bulk_error, t_mean - (3 - np.log(4)), abs(kl_mean - t_mean)))
        print(f"weights {weights_seed} seed {seed}: {np.round(rows[-1], 4)}", flush=True)
    for i, name in enumerate(("bulk mean |T - T*|", "E_q[T] - KL", "|mean kl - E_q[T]|")):
        report(name, [r[i] for r in rows])


def distribute():
    """test_distribute.py: one device against two replicas (round-off only)."""
    import test_distribute as t
    from conftest import binary_images, tiny_aae, tiny_avb, tiny_vae

    from avb_keras import distribute as d
    mirrored = d.make_strategy("mirrored")
    makes = {"avb": tiny_avb, "avb_moment": lambda: tiny_avb(encoder_type="moment"),
             "avb_no_ac": lambda: tiny_avb(adaptive_contrast=False), "vae": tiny_vae,
             "aae": tiny_aae, "avb_2_adversary_steps": lambda: tiny_avb(adversary_steps=2)}
    worst_weights, worst_logs = [], []

    def largest(a, b):  # the largest |a - b| relative to 1e-5 + 1e-4 |b| (the assertion's form)
        return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))
                                / (1e-5 + 1e-4 * np.abs(np.asarray(y))))) for x, y in zip(a, b))

    for name, make in makes.items():
        for data_seed in (0, 1):
            x = binary_images(16, seed=data_seed)
            _, one, h1 = t.one_step(make, tf.distribute.OneDeviceStrategy("/cpu:0"), x)
            _, two, h2 = t.one_step(make, mirrored, np.concatenate([x, x]))
            worst_weights.append(largest(two, one))
            worst_logs.append(largest([h2[k] for k in h1], [h1[k] for k in h1]))
            print(f"{name} data seed {data_seed}: weights {worst_weights[-1]:.3f}, logs "
                  f"{worst_logs[-1]:.3f} (of the tolerance)", flush=True)
    for ac in (True, False):
        _, one, h1 = t.vi_step(tf.distribute.OneDeviceStrategy("/cpu:0"), ac)
        _, two, h2 = t.vi_step(mirrored, ac)
        worst_weights.append(largest(two, one))
        worst_logs.append(largest([h2[k] for k in h1], [h1[k] for k in h1]))
        print(f"adversarial_vi ac={ac}: weights {worst_weights[-1]:.3f}, logs "
              f"{worst_logs[-1]:.3f} (of the tolerance)", flush=True)
    report("weights: max |two - one| / (1e-5 + 1e-4 |one|)", worst_weights)
    report("logs: max |two - one| / (1e-5 + 1e-4 |one|)", worst_logs)


def training_progress():
    """test_models.py::test_training_lowers_the_loss_of_both_players and
    test_aae.py::test_fit_trains_both_players_and_reports_the_shared_metrics."""
    from conftest import binary_images, tiny_aae, tiny_avb
    rows = []
    for make in (tiny_avb, tiny_aae):
        for weights_seed, seed in ((1234, 0), (1, 1), (2, 2), (3, 3)):
            fresh(weights_seed)
            model = make(seed=seed)
            model.compile(optimizer=keras.optimizers.Adam(3e-3),
                          adversary_optimizer=keras.optimizers.Adam(3e-3))
            x = binary_images(256)
            before = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)
            model.fit(x, batch_size=32, epochs=15, verbose=0)
            after = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)
            rows.append((make.__name__, before["reconstruction"] - after["reconstruction"],
                         before["adversary_loss"] - after["adversary_loss"],
                         after["adversary_loss"], after["adversary_accuracy"]))
            print(f"{make.__name__} weights {weights_seed} seed {seed}: reconstruction fell "
                  f"{rows[-1][1]:.4f}, adversary loss fell {rows[-1][2]:.4f} (from "
                  f"{before['adversary_loss']:.4f} to {after['adversary_loss']:.4f}), accuracy "
                  f"{before['adversary_accuracy']:.4f} -> {after['adversary_accuracy']:.4f}",
                  flush=True)
    for name in ("tiny_avb", "tiny_aae"):
        print(f"{name}:")
        for i, what in enumerate(("reconstruction fell by", "adversary loss fell by",
                                  "adversary loss after", "adversary accuracy after"), 1):
            report(what, [r[i] for r in rows if r[0] == name])


def xla():
    """test_xla.py::test_xla_gives_the_same_training_steps: XLA against graph mode on the
    same stand-in noise, for the tests' seed and two others."""
    import test_xla as t
    from keras.src.backend.tensorflow import random as tf_random

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):  # the fixture's stand-in
        s = tf.cast(tf_random._cast_seed(tf_random.draw_seed(seed)), "float32")
        i = tf.cast(tf.range(tf.reduce_prod(shape)), "float32")
        eps = tf.reshape(np.sqrt(2.0) * tf.sin(i * 0.7 + 1.3 * s[0] + 0.9 * s[1]), shape)
        return tf.cast(mean + stddev * eps, dtype or "float32")

    real_normal, tf_random.normal = tf_random.normal, normal
    real_seed = keras.utils.set_random_seed
    logs_rel, updates_rel = [], []
    try:
        for seed in (1234, 1, 2):
            keras.utils.set_random_seed = lambda _, seed=seed: real_seed(seed)
            for name, make in t.MODELS.items():
                updates, logs = t.trained(make, jit_compile=False)
                xla_updates, xla_logs = t.trained(make, jit_compile=True)
                logs_rel.append(max(abs(xla_logs[k] - logs[k]) / abs(logs[k]) for k in logs
                                    if logs[k] != 0))
                largest = max(np.abs(u).max() for u in updates)
                updates_rel.append(max(np.abs(b - a).max() for a, b in zip(updates, xla_updates))
                                   / largest)
                print(f"seed {seed} {name}: logs {logs_rel[-1]:.3g} relative, updates "
                      f"{updates_rel[-1]:.3g} of the largest", flush=True)
    finally:
        tf_random.normal, keras.utils.set_random_seed = real_normal, real_seed
    report("first-step metrics, max relative difference", logs_rel)
    report("3-step updates, max difference / largest update", updates_rel)


def export_sample():
    """test_export.py::test_decoder_signatures_match_the_model_and_sampling_is_seeded: the
    moments of the `sample` signature's 2000 x 3 draws of z, over 20 seeds."""
    import tempfile

    from conftest import tiny_avb

    from avb_keras.export import export_decoder
    fresh(1234)
    with tempfile.TemporaryDirectory() as folder:
        path = export_decoder(tiny_avb(latent_dim=3), Path(folder) / "decoder")
        sample = tf.saved_model.load(str(path)).signatures["sample"]
        rows = []
        for seed in range(20):
            z = sample(num_samples=tf.constant(2000, tf.int32),
                       seed=tf.constant(seed, tf.int64))["z"].numpy()
            rows.append((abs(z.mean()) * np.sqrt(z.size), abs(z.var() - 1)))
            if seed == 7:
                print(f"seed 7 (the test's): |mean| {rows[-1][0]:.3f} standard errors, "
                      f"|var - 1| {rows[-1][1]:.4f}", flush=True)
    report("|mean| in standard errors", [r[0] for r in rows])
    report("|var - 1|", [r[1] for r in rows])


def four_frames_training():
    """test_four_frames.py::test_avb_with_adaptive_contrast_reaches_the_optimum (slow:
    about 2 minutes a run on the shared 2-core CPU)."""
    from avb_keras import datasets
    from avb_keras.presets import get
    for seed, jit in ((0, False), (0, True), (1, False)):
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = AVB.from_preset("four_frames", seed=seed)
        model.compile(jit_compile=jit)
        data = datasets.load("four_frames", batch_size=512, seed=seed)
        model.fit(data, epochs=get("four_frames").epochs, verbose=0)
        value = float(np.mean(quadrature_log_likelihood(model, FRAMES)))
        print(f"seed {seed} jit {jit}: log p(x) {value:.4f}, gap to the optimum "
              f"{-np.log(4) - value:.4f}", flush=True)


def ais_preconditioned():
    """test_ais.py::test_preconditioned_ais_on_a_narrow_correlated_posterior (and plain HMC)."""
    model, x, exact, p0 = conftest.narrow_correlated_posterior()
    for precondition in (True, False):
        errors, excess = [], []
        for seed in range(8):
            r = ais_log_likelihood(model, x, num_steps=300, seed=seed, initial=p0,
                                   precondition=precondition, jit_compile=seed >= 6)
            errors.append(np.mean(np.abs(r.log_likelihood - exact)))
            excess.append(np.max(np.abs(r.log_likelihood - exact) - 4 * r.standard_error))
            print(f"precondition {precondition} seed {seed}: mean |error| {errors[-1]:.4f}, "
                  f"max |error| - 4 se {excess[-1]:.4f}", flush=True)
        report(f"precondition {precondition}: mean |error|", errors)
        report(f"precondition {precondition}: max |error| - 4 se", excess)
    prior_gap = []
    for seed in range(4):
        plain, whitened = (ais_log_likelihood(model, x, num_steps=50, seed=seed, initial="prior",
                                              precondition=p).log_likelihood
                           for p in (False, True))
        prior_gap.append(np.max(np.abs(plain - whitened)))
    report("from the prior, max |preconditioned - plain|", prior_gap)


def trained_four_frames_ais():
    """test_ais.py::test_ais_matches_quadrature_on_a_trained_four_frames_avb (slow)."""
    from avb_keras import datasets
    for weights_seed in (0, 1):
        fresh(weights_seed)
        model = AVB.from_preset("four_frames", seed=0)
        model.compile()
        data = datasets.load("four_frames", split="train", batch_size=512, repeat=True)
        model.fit(data, steps_per_epoch=500, epochs=1, verbose=0)
        exact = quadrature_log_likelihood(model, FRAMES)
        for initial in (None, "prior"):
            for ais_seed, jit in ((9, True), (19, True), (29, True), (9, False)):
                r = ais_log_likelihood(model, FRAMES, seed=ais_seed, initial=initial,
                                       jit_compile=jit)
                error = np.abs(r.log_likelihood - exact)
                print(f"weights {weights_seed} p0 {initial} ais seed {ais_seed} jit {jit}: "
                      f"max |error| {error.max():.4f}, max |error| - 4 se "
                      f"{np.max(error - 4 * r.standard_error):.4f}, mean error "
                      f"{np.mean(r.log_likelihood - exact):+.4f}", flush=True)


MEASUREMENTS = {f.__name__: f for f in (
    four_frames_ais, ais_closed_form, ais_preconditioned, trained_four_frames_ais, ais_steps, moment_p0, trained_vae, adversarial_vi,
    adversary, aae, distribute, training_progress, xla, export_sample,
    four_frames_training, four_frames_short_training)}

if __name__ == "__main__":
    names = sys.argv[1:] or ["all"]
    for name in (list(MEASUREMENTS) if names == ["all"] else names):
        print(f"== {name}: {MEASUREMENTS[name].__doc__.splitlines()[0]}", flush=True)
        MEASUREMENTS[name]()
