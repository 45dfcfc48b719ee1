"""The figure of docs/RESULTS.md's "Why Adaptive Contrast blew up", from stability_probe runs.

    python benchmarks/stability_figure.py \
        --blowup /work/runs/probe/full_1e-3_K_unchanged.npz \
        --remedy /work/runs/probe/full_1e-3_guard.npz \
        --out docs/figures/stability_mechanism.png

Top row, around the blow-up of the model without the limit on the adversary's rate
(full AC, latent 32, rates 1e-3 and 2e-3): T's offset on a fixed batch after each step,
the adversary's sharpness along the offset over Adam's threshold, each player's gradient
norm, the encoder's scales. Bottom row, the whole probe: the same run beside the
library's default (offset_stability 0.5).
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
    parser.add_argument("--remedy-label", default="offset_stability 0.5 (default)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    blowup, remedy = (np.load(p) for p in (args.blowup, args.remedy))
    spike = first_spike(blowup["grad_primal"])
    steps = np.arange(spike - 40, spike + 20)
    fig, axes = plt.subplots(2, 4, figsize=(19, 8))

    ax = axes[0, 0]
    ax.plot(steps, blowup["t_fixed_mean"][steps], "o-", ms=3, color="C3")
    ax.axvline(spike, color="grey", ls=":")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title("T's offset on a fixed batch, after each step")
    ax.set_xlabel("step")
    ax.axhline(0.0, color="grey", lw=0.5)

    ax = axes[0, 1]
    ax.semilogy(steps, blowup["offset_sharpness"][steps], "o-", ms=3, color="C4")
    ax.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax.axvline(spike, color="grey", ls=":")
    ax.set_title("sharpness along the offset / Adam's threshold")
    ax.set_xlabel("step")

    ax = axes[0, 2]
    ax.semilogy(steps, blowup["grad_primal"][steps], label="primal")
    ax.semilogy(steps, blowup["grad_adversary"][steps], label="adversary")
    ax.axvline(spike, color="grey", ls=":")
    ax.set_title("gradient norms (a fresh batch before each step)")
    ax.set_xlabel("step")
    ax.legend()

    ax = axes[0, 3]
    for name, label in [("a_max", "max a_i(x)"), ("sigma_max", "max sigma(x)"),
                        ("mu_absmax", "max |mu(x)|"), ("t_q_absmax", "max |T_q|")]:
        ax.semilogy(steps, blowup[name][steps], label=label)
    ax.axvline(spike, color="grey", ls=":")
    ax.set_title("T first, then the encoder")
    ax.set_xlabel("step")
    ax.legend()

    for col, (name, title) in enumerate([("grad_primal", "primal gradient norm"),
                                         ("grad_adversary", "adversary gradient norm"),
                                         ("probe_reconstruction", "reconstruction (nats)"),
                                         ("t_fixed_mean", "|T's offset| on a fixed batch")]):
        ax = axes[1, col]
        ax.semilogy(np.abs(blowup[name]), lw=0.6, label="no limit", color="C3")
        ax.semilogy(np.abs(remedy[name]), lw=0.6, label=args.remedy_label, color="C0")
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
