"""The figure of docs/RESULTS.md's "Why Adaptive Contrast blew up", from stability_probe runs.

    python benchmarks/stability_figure.py --blowup /work/runs/probe/full_1e-3.npz \
        --remedy /work/runs/probe/full_1e-3_uc1.npz --remedy-label "update clipping 1" \
        --out docs/figures/stability_mechanism.png

Top row, around the blow-up of the unchanged model (full AC, latent 32, rates 1e-3 and
2e-3): T's offset on a fixed batch after each step, each player's gradient norm, the
encoder's scales. Bottom row, the whole probe: the same unchanged run beside the remedy.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def first_spike(gradient, factor=20.0, window=200):
    """The first step whose primal gradient norm exceeds `factor` x the median of the
    `window` steps before it."""
    return next(i for i in range(window, len(gradient))
                if gradient[i] > factor * np.median(gradient[i - window:i]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blowup", type=Path, required=True)
    parser.add_argument("--remedy", type=Path, required=True)
    parser.add_argument("--remedy-label", default="remedy")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    blowup, remedy = (np.load(p) for p in (args.blowup, args.remedy))
    spike = first_spike(blowup["grad_primal"])
    steps = np.arange(spike - 40, spike + 20)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))

    ax = axes[0, 0]
    ax.plot(steps, blowup["t_fixed_mean"][steps], "o-", ms=3, color="C3")
    ax.axvline(spike, color="grey", ls=":")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title("T's offset on a fixed batch, after each step")
    ax.set_xlabel("step")
    ax.axhline(0.0, color="grey", lw=0.5)

    ax = axes[0, 1]
    ax.semilogy(steps, blowup["grad_primal"][steps], label="primal")
    ax.semilogy(steps, blowup["grad_adversary"][steps], label="adversary")
    ax.axvline(spike, color="grey", ls=":")
    ax.set_title("gradient norms (a fresh batch before each step)")
    ax.set_xlabel("step")
    ax.legend()

    ax = axes[0, 2]
    for name, label in [("a_max", "max a_i(x)"), ("sigma_max", "max sigma(x)"),
                        ("mu_absmax", "max |mu(x)|"), ("t_q_absmax", "max |T_q|")]:
        ax.semilogy(steps, blowup[name][steps], label=label)
    ax.axvline(spike, color="grey", ls=":")
    ax.set_title("T first, then the encoder")
    ax.set_xlabel("step")
    ax.legend()

    for col, (name, title) in enumerate([("grad_primal", "primal gradient norm"),
                                         ("grad_adversary", "adversary gradient norm"),
                                         ("probe_reconstruction", "reconstruction (nats)")]):
        ax = axes[1, col]
        ax.semilogy(blowup[name], lw=0.6, label="unchanged", color="C3")
        ax.semilogy(remedy[name], lw=0.6, label=args.remedy_label, color="C0")
        ax.set_title(title + ", whole probe")
        ax.set_xlabel("step")
        ax.legend()
    fig.suptitle("Full-covariance AVB+AC, latent 32, primal rate 1e-3, adversary 2e-3 "
                 "(benchmarks/stability_probe.py)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"first primal spike at step {spike}; wrote {args.out}")


if __name__ == "__main__":
    main()
