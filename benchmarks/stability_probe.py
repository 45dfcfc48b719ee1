"""Per-step health of an AVB run: what runs away first when Adaptive Contrast blows up.

Trains an `avb-keras` model with the train step of the library (one call per step),
and after every step records the quantities a blow-up could start from: each player's
gradient norm, the range of sigma(x) (r's scales) and of the moment encoder's
coefficients a_i(x), the largest |z~|, T's logits on both halves, the adversary's
accuracy and the step's terms. Writes them to an .npz for the figure in
docs/RESULTS.md ("Why Adaptive Contrast blew up").

    python benchmarks/stability_probe.py --out /work/runs/probe/full_1e-3.npz \
        --adaptive-contrast full --learning-rate 1e-3 --steps 6000
"""

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import avb_keras
from avb_keras import contrast, datasets


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--data-path", default="../shared/data/mnist.npz")
    parser.add_argument("--adaptive-contrast", default="full", choices=["diagonal", "full"])
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--adversary-learning-rate", type=float, default=None,
                        help="default: twice --learning-rate")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--beta1", type=float, default=0.5, help="the primal Adam's beta_1")
    parser.add_argument("--adversary-beta1", type=float, default=0.5,
                        help="the adversary Adam's beta_1")
    parser.add_argument("--adversary-epsilon", type=float, default=1e-7,
                        help="the adversary Adam's epsilon")
    parser.add_argument("--update-clipping", type=float, default=None,
                        help="the adversary Adam's update_clipping (avb_keras.optimizers.Adam)")
    parser.add_argument("--primal-update-clipping", type=float, default=None,
                        help="the primal Adam's update_clipping")
    parser.add_argument("--offset-stability", default="0.5",
                        help="compile's offset_stability (the library's default 0.5), or none")
    parser.add_argument("--clip-norm", type=float, default=None)
    parser.add_argument("--detail", type=int, nargs=2, default=None, metavar=("FROM", "TO"),
                        help="also record, for steps FROM..TO, T on a fixed batch after each "
                             "step and the RMS of each player's weight change")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)
    # T at the listed 2x512, as in the runs of docs/RESULTS.md's mechanism (full AC's
    # default is a quarter of it since).
    model = avb_keras.AVB.from_preset("mnist_mlp", latent_dim=args.latent_dim, seed=args.seed,
                                      adaptive_contrast=args.adaptive_contrast,
                                      adversary_width=1.0)
    adversary_rate = args.adversary_learning_rate or 2 * args.learning_rate
    model.compile(optimizer=avb_keras.optimizers.Adam(args.learning_rate, beta_1=args.beta1,
                                                   update_clipping=args.primal_update_clipping),
                  adversary_optimizer=avb_keras.optimizers.Adam(adversary_rate,
                                                                beta_1=args.adversary_beta1,
                                                                epsilon=args.adversary_epsilon,
                                                                update_clipping=args.update_clipping),
                  clipnorm=args.clip_norm,
                  offset_stability=(None if args.offset_stability == "none"
                                    else float(args.offset_stability)))
    data = iter(datasets.load("mnist", "train", batch_size=128, seed=args.seed,
                              path=args.data_path, repeat=True))

    fixed = next(iter(datasets.load("mnist", "valid", batch_size=64, seed=0,
                                    path=args.data_path)))
    fixed_z = tf.random.stateless_normal((64, args.latent_dim), seed=(0, 1))

    @tf.function
    def step(x):
        health = probe(model, x)
        logs = model.train_step(x)
        # T on a fixed (x, z~): its swings are the adversary's own, not new draws'.
        health["t_fixed_mean"] = tf.reduce_mean(model.adversary((fixed, fixed_z)))
        health["offset_sharpness"] = offset_sharpness(model, fixed, fixed_z)
        if model.offset_stability is not None:  # the factor on the adversary's rate
            health["rate_factor"] = tf.convert_to_tensor(model._health.rate_factor)
        return {**health, **{k: tf.convert_to_tensor(v) for k, v in logs.items()}}

    records, start = [], time.time()
    for i in range(args.steps):
        detail = args.detail is not None and args.detail[0] <= i <= args.detail[1]
        if detail:
            before = {name: [v.numpy() for v in variables]
                      for name, variables in model.player_variables.items()}
        values = {k: float(v) for k, v in step(next(data)).items()}
        if detail:
            values.update(changes(model, before))
            values.update(attribution(model, before["adversary_optimizer"], fixed, fixed_z))
            print(f"detail {i}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()
                                               if k in DETAIL_KEYS or k.startswith("dT_")),
                  flush=True)
        records.append(values)
        if i % 250 == 0 or not np.isfinite(values["loss"]):
            print(f"step {i}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()),
                  flush=True)
    keys = sorted(set().union(*records))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **{k: np.array([r.get(k, np.nan) for r in records]) for k in keys},
             command=" ".join(["python", "benchmarks/stability_probe.py", *(argv or [])]))
    print(f"{args.steps} steps in {time.time() - start:.0f} s; wrote {args.out}")


DETAIL_KEYS = ("grad_adversary", "grad_primal", "t_q_mean", "t_p_mean", "t_fixed_mean",
               "rms_change_optimizer", "rms_change_adversary_optimizer",
               "max_change_adversary_optimizer")


def changes(model, before):
    """RMS and largest |change| of each player's weights in the last step."""
    out = {}
    for name, variables in model.player_variables.items():
        deltas = np.concatenate([(v.numpy() - b).ravel() for v, b in zip(variables, before[name])])
        out[f"rms_change_{name}"] = float(np.sqrt(np.mean(deltas ** 2)))
        out[f"max_change_{name}"] = float(np.max(np.abs(deltas)))
    return out


def attribution(model, before, x, z):
    """How much the last step's change of each adversary weight moved mean T on (x, z):
    T(all new) - T(this weight as before, the rest new)."""
    t_new = float(tf.reduce_mean(model.adversary((x, z))))
    out = {}
    for variable, old in zip(model.adversary.trainable_variables, before):
        new = variable.numpy()
        variable.assign(old)
        out[f"dT_{variable.path}"] = t_new - float(tf.reduce_mean(model.adversary((x, z))))
        variable.assign(new)
    return out


def offset_sharpness(model, x, z):
    """K / threshold on a fixed batch: the adversary Adam's preconditioned curvature along
    T's offset over its stability threshold (`AdversarialGame.limit_adversary_rate`),
    before any limit. Above 1, the offset's period-2 oscillation grows."""
    optimizer = model.adversary_optimizer
    variables = model.adversary.trainable_variables
    with tf.GradientTape() as tape:
        t_mean = tf.reduce_mean(model.adversary((x, z)))
    curvature = optimizer.preconditioned_curvature(tape.gradient(t_mean, variables), variables,
                                                   curvature=0.5)
    return curvature / optimizer.stability_threshold()


def probe(model, x):
    """The health of one step, from the same kind of draws the step uses (not the same draws)."""
    out = model.encoder(x)
    z, r = out["z"], contrast.gaussian(out, model.adaptive_contrast)
    coefficients = _coefficient_model(model.encoder)(x)
    sigma = tf.sqrt(out["variance"] + contrast.VARIANCE_FLOOR)
    z_tilde = contrast.normalize(z, r)
    with tf.GradientTape(persistent=True) as tape:
        terms = model.compute_terms(x)
        primal = tf.reduce_mean(model.primal_loss(terms))
        adversary = tf.reduce_mean(tf.nn.softplus(-terms["t_q"]) + tf.nn.softplus(terms["t_p"]))
    g_primal = tape.gradient(primal, model.primal_variables)
    g_adv = tape.gradient(adversary, model.adversary.trainable_variables)
    del tape
    return {
        "grad_primal": tf.linalg.global_norm(g_primal),
        "grad_adversary": tf.linalg.global_norm(g_adv),
        "sigma_min": tf.reduce_min(sigma), "sigma_max": tf.reduce_max(sigma),
        "sigma_mean": tf.reduce_mean(sigma),
        "a_max": tf.reduce_max(coefficients), "a_min": tf.reduce_min(coefficients),
        "mu_absmax": tf.reduce_max(tf.abs(out["mean"])),
        "z_tilde_absmax": tf.reduce_max(tf.abs(z_tilde)),
        "z_tilde_norm_mean": tf.reduce_mean(tf.norm(z_tilde, axis=-1)),
        "t_q_mean": tf.reduce_mean(terms["t_q"]), "t_p_mean": tf.reduce_mean(terms["t_p"]),
        "t_q_absmax": tf.reduce_max(tf.abs(terms["t_q"])),
        "t_p_absmax": tf.reduce_max(tf.abs(terms["t_p"])),
        "probe_kl": tf.reduce_mean(terms["kl"]),
        "probe_reconstruction": tf.reduce_mean(terms["reconstruction"]),
    }


_CACHE = {}


def _coefficient_model(encoder):
    """x -> a_i(x), the moment encoder's coefficients (its 'positive' layer)."""
    if id(encoder) not in _CACHE:
        _CACHE[id(encoder)] = keras.Model(encoder.input, encoder.get_layer("positive").output)
    return _CACHE[id(encoder)]


if __name__ == "__main__":
    main()
