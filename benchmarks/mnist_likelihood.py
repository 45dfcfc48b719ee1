"""Binarized MNIST: VAE, AVB and AVB+AC at latent 8 and 32, by AIS (the paper's Table 2).

Every model gets the same budget (epochs, batch 128, the `mnist_mlp` networks and the
paper's learning rates 5e-5 / 1e-4 with Adam(beta_1 = 0.5)) on the full MNIST with
dynamic binarization, then is evaluated on statically binarized test images (seed 0):

- AIS log p(x) (`avb_keras.evaluation.evaluate_log_likelihood`, HMC with 10 leapfrog
  steps, from the VAE's encoder, r(z|x) for AVB+AC, the prior for plain AVB);
- the ELBO, reconstruction and KL of `model.evaluate` (estimates for AVB, via T).

Writes `mnist_likelihood.json`, `mnist_likelihood.md` (the table beside the paper's
reported numbers, with the budget, wall times and device) and `mnist_likelihood.png`
(prior samples of each model) to --out.

    python benchmarks/mnist_likelihood.py --out runs/mnist_ll            # minutes on 2 CPUs
    python benchmarks/mnist_likelihood.py --out runs/mnist_ll --full     # hours; use a GPU
    python benchmarks/mnist_likelihood.py --epochs 10 --ais-examples 500 --out ...

MNIST comes from --data-path, else $AVB_KERAS_MNIST, else ../shared/data/mnist.npz
beside the repository, else the Keras cache; nothing is downloaded.
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

from avb_keras import AVB, VAE, datasets, optimizers  # noqa: E402
from avb_keras.evaluation import evaluate_log_likelihood  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"

#: name -> (class, overrides of the mnist_mlp preset)
MODELS = {"vae": (VAE, {}), "avb": (AVB, {"adaptive_contrast": False}),
          "avb_ac": (AVB, {"adaptive_contrast": "diagonal"})}
LABELS = {"vae": "VAE", "avb": "AVB", "avb_ac": "AVB+AC"}
#: The paper's reported test log-likelihoods (nats; Mescheder et al. 2017, Table 2), where
#: it gives them.
#: The paper's rates for its Adaptive Contrast runs (mnist_mlp trains at the zoo's).
PAPER_RATES = {"optimizer": 5e-5, "adversary_optimizer": 1e-4}
PAPER = {("avb_ac", 32): -79.5, ("vae", 32): -87.2, ("vae", 8): -98.1, ("avb_ac", 8): -96.3}

BUDGETS = {
    "default": dict(epochs=1, steps_per_epoch=100, ais_examples=50, ais_steps=100, chains=8),
    "full": dict(epochs=100, steps_per_epoch=None, ais_examples=1000, ais_steps=1000,
                 chains=8),
}


def mnist_path(given):
    for candidate in (given, os.environ.get("AVB_KERAS_MNIST"), SHARED_MNIST):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None  # datasets.load falls back to the Keras cache, or says where to put it


def device_name():
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    # benchmarks/ is on sys.path when the script runs, not when a test loads it alone.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from timing import machine

    return f"CPU ({machine()})"


def run_one(name, latent_dim, budget, path, seed):
    cls, overrides = MODELS[name]
    keras.utils.set_random_seed(seed)
    model = cls.from_preset("mnist_mlp", latent_dim=latent_dim, seed=seed, **overrides)
    model.compile(**{name: optimizers.player_adam(rate) for name, rate in PAPER_RATES.items()
                     if name in model.optimizer_names})
    train = datasets.load("mnist", "train", batch_size=128, path=path, seed=seed)
    start = time.time()
    model.fit(train, epochs=budget["epochs"], steps_per_epoch=budget["steps_per_epoch"],
              verbose=0)
    train_seconds = time.time() - start

    test = datasets.load("mnist", "test", batch_size=100, path=path, binarize="static",
                         seed=0, num_examples=budget["ais_examples"])
    metrics = model.evaluate(test, return_dict=True, verbose=0)
    start = time.time()
    ais = evaluate_log_likelihood(model, test, num_chains=budget["chains"],
                                  num_steps=budget["ais_steps"], seed=seed, verbose=0)
    ais_seconds = time.time() - start
    return model, {
        "model": LABELS[name], "latent_dim": latent_dim,
        "ais_log_px": ais.mean, "ais_standard_error": ais.standard_error,
        "elbo": float(metrics["elbo"]), "reconstruction": float(metrics["reconstruction"]),
        "kl": float(metrics["kl"]), "paper_log_px": PAPER.get((name, latent_dim)),
        "train_steps": int(model.optimizer.iterations), "train_seconds": round(train_seconds, 1),
        "ais_seconds": round(ais_seconds, 1)}


def table(rows, budget, device, command):
    lines = [
        f"Budget per model: {budget['epochs']} epoch(s)"
        + (f" of {budget['steps_per_epoch']} steps" if budget["steps_per_epoch"] else "")
        + f", batch 128, mnist_mlp networks; AIS on the first {budget['ais_examples']} test "
        f"images, {budget['chains']} chains, {budget['ais_steps']} temperatures, 10 leapfrog "
        f"steps. Device: {device}. Command: `{command}`.", "",
        "| model | latent | AIS log p(x) | ELBO | reconstruction | KL | paper log p(x) "
        "| train steps | train s | AIS s |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        paper = "" if r["paper_log_px"] is None else f"{r['paper_log_px']:.1f}"
        estimate = "" if r["model"] == "VAE" else " (est.)"
        lines.append(
            f"| {r['model']} | {r['latent_dim']} | {r['ais_log_px']:.2f} ± "
            f"{r['ais_standard_error']:.2f} | {r['elbo']:.2f}{estimate} | "
            f"{r['reconstruction']:.2f} | {r['kl']:.2f}{estimate} | {paper} | "
            f"{r['train_steps']} | {r['train_seconds']} | {r['ais_seconds']} |")
    return "\n".join(lines) + "\n"


def plot(models, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(2.5 * len(models), 2.8))
    for ax, (label, model) in zip(np.atleast_1d(axes), models.items()):
        images = model.sample(16, seed=0).numpy().reshape(4, 4, 28, 28)
        ax.imshow(images.transpose(0, 2, 1, 3).reshape(112, 112), cmap="gray")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/mnist_likelihood"))
    parser.add_argument("--full", action="store_true", help="the full budget (hours on CPU)")
    parser.add_argument("--data-path", default=None, help="MNIST .npz (Keras layout)")
    parser.add_argument("--latent-dims", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    for key in ("epochs", "steps_per_epoch", "ais_examples", "ais_steps", "chains"):
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=None,
                            help=f"override the budget's {key} (steps per epoch 0: whole epochs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    budget = dict(BUDGETS["full" if args.full else "default"])
    for key in budget:
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    budget["steps_per_epoch"] = budget["steps_per_epoch"] or None  # 0: whole epochs
    path = mnist_path(args.data_path)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/mnist_likelihood.py " + " ".join(
        sys.argv[1:] if argv is None else argv)

    rows, models = [], {}
    for latent_dim in args.latent_dims:
        for name in args.models:
            model, row = run_one(name, latent_dim, budget, path, args.seed)
            rows.append(row)
            models[f"{LABELS[name]} z{latent_dim}"] = model
            print(f"{row['model']} z{latent_dim}: AIS {row['ais_log_px']:.2f} ± "
                  f"{row['ais_standard_error']:.2f}, ELBO {row['elbo']:.2f} "
                  f"({row['train_seconds']} s training, {row['ais_seconds']} s AIS)", flush=True)
    device = device_name()
    result = {"budget": budget, "device": device, "seed": args.seed, "command": command,
              "rows": rows}
    (args.out / "mnist_likelihood.json").write_text(json.dumps(result, indent=2))
    markdown = table(rows, budget, device, command)
    (args.out / "mnist_likelihood.md").write_text(markdown)
    plot(models, args.out / "mnist_likelihood.png")
    print(markdown)
    return result


if __name__ == "__main__":
    main()
