"""Stability, measured: the highest rate each model trains at without blowing up.

Each run is one resumable `avb-keras train` of the converged comparison's recipe
(mnist_mlp networks, cosine decay over --epochs, EMA 0.999, the adversary at twice the
primal rate; see benchmarks/mnist_converged.py) at one primal rate and seed, with the
library's defaults (so with its stabilization). The rule, the same for every run:

    stable  <=>  for every epoch e > 5:  val_elbo[e] >= max(val_elbo[1..e]) - 5 nats

(non-finite values fail). An adversarial run must also keep its adversary's KL
estimate on the monitoring batch (kl/estimate) no more than KL_MARGIN nats below the
adversary-free lower bound (kl/lower_bound) at the last write: a slower T's ELBO is not
one. A run that fails either is stopped there (its run directory gets unstable.json,
with the reason), since the rest of its epochs cannot pass. The report lists each run's
largest drop below its best so far, and per model the highest rate at which every seed
passed.

    python benchmarks/stability.py train --runs /work/runs/stability [--only NAME@RATE_sSEED]
    python benchmarks/stability.py ais --runs /work/runs/stability [--only ...]
    python benchmarks/stability.py report --runs /work/runs/stability \
        --out benchmarks/results/stability
    python benchmarks/stability.py figure --out benchmarks/results/stability \
        --figure docs/figures/stability_grid.png

Run directories live outside the repository (--runs); rerun `train` to resume.
"""

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnist_converged  # noqa: E402  (a sibling benchmark: its models and train command)

#: (model of mnist_converged.MODELS, primal rate, seed), in the order they run: first the
#: run that blew up before (full AC z32 at 1e-3), then the rest of the grid, then seeds.
GRID = [
    ("avb_fullac_z32", 1e-3, 0), ("avb_ac_z32", 1e-3, 0),
    ("avb_fullac_z32", 3e-3, 0), ("avb_ac_z32", 3e-3, 0),
    ("avb_fullac_z8", 1e-3, 0), ("avb_ac_z8", 1e-3, 0),
    ("avb_fullac_z8", 3e-3, 0), ("avb_ac_z8", 3e-3, 0),
    ("avb_fullac_z32", 1e-3, 1), ("avb_fullac_z32", 1e-3, 2),
    ("vae_z32", 3e-3, 0), ("vae_z8", 3e-3, 0),
    # The answer at latent 8: the VAE at its best converged rate too (1e-3, second rule).
    ("vae_z8", 1e-3, 0),
    # The answer over seeds (VAE z32 at its best converged rate, 1e-3).
    ("vae_z32", 1e-3, 0), ("vae_z32", 1e-3, 1), ("vae_z32", 1e-3, 2),
    # The adversary's cost: full AC with T half and a quarter as wide.
    ("avb_fullac_z32_adv2", 1e-3, 0), ("avb_fullac_z32_adv4", 1e-3, 0),
    # The default recipe since (T a quarter as wide) reproduces its zoo card: another seed.
    ("avb_fullac_z32_adv4", 1e-3, 1),
    # The answer over seeds chooses each seed's rate among the stable ones by validation
    # AIS: the lower rate too.
    ("avb_fullac_z32", 3e-4, 0), ("avb_fullac_z32", 3e-4, 1), ("avb_fullac_z32", 3e-4, 2),
    ("vae_z32", 3e-4, 0), ("vae_z32", 3e-4, 1), ("vae_z32", 3e-4, 2),
    # The same rule at latent 8 (3e-3 blew up for the VAE and diagonal AC z8).
    ("vae_z8", 3e-4, 0), ("avb_ac_z8", 3e-4, 0), ("avb_fullac_z8", 3e-4, 0),
    # A second seed of latent 8's answer, at the rate (1e-3) and the Adaptive Contrast
    # (diagonal) that seed 0 chose.
    ("vae_z8", 1e-3, 1), ("avb_ac_z8", 1e-3, 1),
]
#: The answers over seeds: (the models, of which each seed's best by validation AIS is
#: compared, and the VAE it is paired with).
ANSWERS = ((("avb_fullac_z32",), "vae_z32"), (("avb_fullac_z8", "avb_ac_z8"), "vae_z8"))
#: Models of this grid beyond mnist_converged.MODELS: (that model, its --adversary-width).
VARIANTS = {"avb_fullac_z32_adv2": ("avb_fullac_z32", "0.5"),
            "avb_fullac_z32_adv4": ("avb_fullac_z32", "0.25")}
#: AIS of a finished run: temperatures, and the validation and test images (the converged
#: comparison's first 500 test images, binarized once with seed 0, and its AIS seeds).
AIS_STEPS, VALID_EXAMPLES, TEST_EXAMPLES = 500, 200, 500
#: After this many epochs, no epoch may fall more than DROP_NATS below the best so far.
GRACE_EPOCHS = 5
DROP_NATS = 5.0
#: The largest shortfall of the KL estimate below its bound (KLBoundCheck's margin)...
KL_MARGIN = 1.0
#: ...and, after GRACE_EPOCHS, the shortfall at two writes in a row that stops a run.
KL_STOP_NATS = 5.0


def key(name, rate, seed):
    return f"{name}@{rate:.3g}_s{seed}"


def largest_drop(elbo, grace=GRACE_EPOCHS):
    """max over epochs e > grace of (best of epochs 1..e) - elbo[e]; inf if any is not finite."""
    if not all(math.isfinite(v) for v in elbo):
        return math.inf
    drops = [max(elbo[:e + 1]) - elbo[e] for e in range(grace, len(elbo))]
    return max(drops, default=0.0)


def train(args):
    for name, rate, seed in GRID:
        run_key = key(name, rate, seed)
        if args.only and run_key not in args.only:
            continue
        run_dir = args.runs / run_key
        if (run_dir / "metrics.json").exists() or (run_dir / "unstable.json").exists():
            continue
        start = time.time()
        command = train_command(name, rate, seed, run_dir, args)
        run_until_unstable(command, run_dir, adversarial=not name.startswith("vae"))
        print(f"{run_key}: {time.time() - start:.0f} s", flush=True)


def train_command(name, rate, seed, run_dir, args):
    """The `avb-keras train` command of grid model `name` (mnist_converged's, or a variant
    of one with another adversary width)."""
    base, width = VARIANTS.get(name, (name, None))
    command = mnist_converged.train_command(base, rate, args.epochs, run_dir, args, seed=seed)
    if width is not None:
        command[command.index("--adversary-width") + 1] = width
    return command


def kl_shortfalls(run_dir):
    """bound - estimate at each of the monitor's writes (kl/lower_bound, kl/estimate)."""
    curves = mnist_converged.kl_curves(run_dir)
    if "kl/estimate" not in curves or "kl/lower_bound" not in curves:
        return []
    return [b - e for e, b in zip(curves["kl/estimate"][1], curves["kl/lower_bound"][1])]


def failure(run_dir, adversarial):
    """Why the run so far fails (a sentence), or None."""
    elbo = [e["val_elbo"] for e in mnist_converged.journal(run_dir)]
    drop = largest_drop(elbo)
    if drop > DROP_NATS:
        return f"validation ELBO {drop:.4g} nats below its best by epoch {len(elbo)}"
    shortfalls = kl_shortfalls(run_dir) if adversarial and len(elbo) > GRACE_EPOCHS else []
    if len(shortfalls) >= 2 and min(shortfalls[-2:]) > KL_STOP_NATS:
        return (f"KL estimate {shortfalls[-1]:.3g} nats below its adversary-free bound "
                f"by epoch {len(elbo)}")
    return None


def run_until_unstable(command, run_dir, adversarial, poll_seconds=10):
    """Runs `command`; stops it at the first epoch that fails (unstable.json), which
    also marks a run that training itself stopped (a NaN) as done."""
    print("$", " ".join(command), flush=True)
    process = subprocess.Popen(command, cwd=mnist_converged.REPO)
    epochs = 0
    while True:
        ended = process.poll() is not None
        now = len(mnist_converged.journal(run_dir))
        reason = failure(run_dir, adversarial) if now != epochs or ended else None
        epochs = now
        if reason:
            process.terminate()
            process.wait()
            (run_dir / "unstable.json").write_text(json.dumps({"epochs": now, "reason": reason}))
            print(f"stopped: {reason}", flush=True)
            return
        if ended:
            break
        time.sleep(poll_seconds)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)


def ais(args):
    """AIS log p(x) of each finished run that passed: first 200 validation images (8
    chains, seed [3, i // 50]) to choose rates by, then, where an answer may use the run
    (`needs_test`), the 500 test images paired with the converged comparison
    (`mnist_converged.paired_ais`), with the KL and its adversary-free bound. A run an
    answer does not choose keeps its validation figures only; rerun `ais` after a seed's
    other rates finish and the runs it then chooses get their test images.
    With --preset, the same for a pretrained preset (into --out/PRESET_ais.json)."""
    from avb_keras import saving
    valid = mnist_converged.static_images("valid", VALID_EXAMPLES, args)
    test = mnist_converged.static_images("test", TEST_EXAMPLES, args)
    if args.preset:
        import avb_keras
        model = avb_keras.VAE.from_preset(args.preset) if args.preset.startswith(
            "mnist_vae") else avb_keras.AVB.from_preset(args.preset)
        mnist_converged.write_json(args.out / f"{args.preset}_ais.json", {
            "command": " ".join(["benchmarks/stability.py", *sys.argv[1:]]),
            **evaluate_valid(model, valid), **evaluate_test(model, test)})
        return
    for name, rate, seed in GRID:
        run_key, run_dir = key(name, rate, seed), args.runs / key(name, rate, seed)
        if (args.only and run_key not in args.only) or not (run_dir / "metrics.json").exists():
            continue
        result = mnist_converged.read_json(run_dir / "ais.json")
        if "valid" not in result:
            model = saving.load_model(run_dir / "model.keras")
            result = evaluate_valid(model, valid)
            mnist_converged.write_json(run_dir / "ais.json", result)
            print(f"{run_key}: validation AIS {sum(result['valid']) / len(result['valid']):.2f}",
                  flush=True)
        if "test" not in result and needs_test(rows(args), run_key):
            model = saving.load_model(run_dir / "model.keras")
            result = {**result, **evaluate_test(model, test)}
            mnist_converged.write_json(run_dir / "ais.json", result)
            print(f"{run_key}: test AIS {sum(result['test']) / len(result['test']):.2f}",
                  flush=True)


def needs_test(table, run_key):
    """Whether the run's test AIS may be used: it is its seed's choice in an answer (or its
    VAE's), or its model is in no answer (a row of its own, such as the adversary's cost)."""
    run = table[run_key]
    groups = [group for models, baseline in ANSWERS for group in (models, (baseline,))
              if run["model"] in group]
    if not groups:
        return True
    return any(chosen(table, group, run["seed"]) is run for group in groups)


def evaluate_valid(model, valid):
    """{valid: per-image AIS, steps, valid_seconds}."""
    import numpy as np
    from avb_keras import evaluation
    start = time.time()
    ais_valid = np.concatenate([evaluation.ais_log_likelihood(
        model, valid[i:i + 50], num_chains=8, num_steps=AIS_STEPS, seed=[3, i // 50]
    ).log_likelihood for i in range(0, len(valid), 50)])
    return {"valid": ais_valid.tolist(), "steps": AIS_STEPS,
            "valid_seconds": round(time.time() - start, 1)}


def evaluate_test(model, test):
    """{test: per-image AIS, test_check_first20, check_steps, kl_model, kl_lower_bound,
    seconds}."""
    from avb_keras import evaluation
    start = time.time()
    ais_test, check = mnist_converged.paired_ais(model, test, AIS_STEPS, 4 * AIS_STEPS)
    bound = evaluation.kl_lower_bound(model, test, seed=0).kl_lower_bound
    kl = model.compute_terms(model.images(test))["kl"].numpy()
    return {"test": ais_test.tolist(), "test_check_first20": check.tolist(),
            "check_steps": 4 * AIS_STEPS, "kl_model": float(kl.mean()),
            "kl_lower_bound": float(bound.mean()), "seconds": round(time.time() - start, 1)}


def rows(args):
    """{run key: its row} for every run of the grid that has epochs."""
    table = {}
    for name, rate, seed in GRID:
        run_dir = args.runs / key(name, rate, seed)
        epochs = mnist_converged.journal(run_dir)
        if not epochs:
            continue
        elbo = [e["val_elbo"] for e in epochs]
        drop = largest_drop(elbo)
        finished = (run_dir / "metrics.json").exists() or (run_dir / "unstable.json").exists()
        shortfall = (kl_shortfalls(run_dir) or [None])[-1] if not name.startswith("vae") else None
        keeps_up = shortfall is None or shortfall <= KL_MARGIN
        table[key(name, rate, seed)] = dict(
            model=name, rate=rate, seed=seed, epochs=len(elbo), finished=finished,
            largest_drop=drop, kl_shortfall=shortfall, adversary_keeps_up=keeps_up,
            stable=drop <= DROP_NATS and keeps_up,
            best_val_elbo=max(elbo) if math.isfinite(drop) else None, last_val_elbo=elbo[-1],
            val_elbo=[v if math.isfinite(v) else None for v in elbo], **ais_summary(run_dir))
    return table


def ais_summary(run_dir):
    """Means and standard errors of the run's AIS (ais.json), if evaluated, and on the test
    images the model's KL (the adversary's estimate, for AVB) beside its adversary-free
    lower bound."""
    import numpy as np
    result = mnist_converged.read_json(run_dir / "ais.json")
    out = {}
    for split in ("valid", "test"):
        if split in result:
            values = np.asarray(result[split])
            out[f"ais_{split}"] = float(values.mean())
            out[f"ais_{split}_se"] = float(values.std(ddof=1) / np.sqrt(len(values)))
    for name in ("kl_model", "kl_lower_bound"):
        if name in result:
            out[f"test_{name}"] = result[name]
    return out


def highest_stable_rates(table):
    """{model: the highest rate at which every finished seed was stable, or None}, for
    the models with a finished run."""
    out = {}
    for model in sorted({r["model"] for r in table.values() if r["finished"]}):
        runs = [r for r in table.values() if r["model"] == model and r["finished"]]
        rates = {r["rate"] for r in runs}
        stable = [rate for rate in rates if all(r["stable"] for r in runs if r["rate"] == rate)]
        out[model] = max(stable, default=None)
    return out


def chosen(table, models, seed):
    """The seed's run of any of `models` at a stable rate with the best validation AIS, or
    None."""
    runs = [r for r in table.values() if r["model"] in models and r["seed"] == seed
            and r["finished"] and r["stable"] and "ais_valid" in r]
    return max(runs, key=lambda r: r["ais_valid"], default=None)


def answers(args, table):
    """Per seed, the paired mean test-AIS difference model - VAE (each at its chosen
    rate), its paired standard error and the share of images the model scores higher on;
    across seeds, the means' mean and standard error."""
    import numpy as np
    out = {}
    for models, baseline in ANSWERS:
        per_seed = {}
        for seed in sorted({r["seed"] for r in table.values()}):
            ours, theirs = chosen(table, models, seed), chosen(table, (baseline,), seed)
            if ours is None or theirs is None:
                continue
            tests = [mnist_converged.read_json(args.runs / key(r["model"], r["rate"], seed)
                                               / "ais.json").get("test") for r in (ours, theirs)]
            if None in tests:  # chosen, its test AIS not yet run (`ais` runs it)
                continue
            d = np.asarray(tests[0]) - np.asarray(tests[1])
            per_seed[seed] = {"model": ours["model"], "rates": [ours["rate"], theirs["rate"]],
                              "mean": float(d.mean()),
                              "paired_se": float(d.std(ddof=1) / np.sqrt(len(d))),
                              "better_share": float(np.mean(d > 0))}
        means = [v["mean"] for v in per_seed.values()]
        out[f"{' or '.join(models)} - {baseline}"] = {
            "seeds": per_seed, "mean": float(np.mean(means)) if means else None,
            "se_across_seeds": (float(np.std(means, ddof=1) / np.sqrt(len(means)))
                                if len(means) > 1 else None)}
    return out


def markdown(table, best):
    lines = ["| run | epochs | largest drop below best (nats) | KL bound - estimate, last write "
             "| stable | best val ELBO | last | AIS valid (200) | AIS test (500) "
             "| test KL (estimate) / bound |", "|---|---|---|---|---|---|---|---|---|---|"]
    for run_key, r in table.items():
        done = "" if r["finished"] else " (running)"
        done += " (stopped)" if r["finished"] and not r["stable"] else ""
        best_elbo = "-" if r["best_val_elbo"] is None else f"{r['best_val_elbo']:.2f}"
        shortfall = "-" if r["kl_shortfall"] is None else f"{r['kl_shortfall']:.2f}"
        lines.append(f"| {run_key} | {r['epochs']}{done} | {r['largest_drop']:.2f} | {shortfall} | "
                     f"{'yes' if r['stable'] else 'no'} | {best_elbo} | {r['last_val_elbo']:.2f} | "
                     f"{_mean_se(r, 'ais_valid')} | {_mean_se(r, 'ais_test')} | {_kl(r)} |")
    lines += ["", "| model | highest stable rate (all seeds, finished runs) |", "|---|---|"]
    lines += [f"| {m} | {'none' if rate is None else f'{rate:g}'} |" for m, rate in best.items()]
    return "\n".join(lines) + "\n"


def _mean_se(row, name):
    return f"{row[name]:.2f} ± {row[name + '_se']:.2f}" if name in row else "-"


def _kl(row):
    if "test_kl_model" not in row:
        return "-"
    return f"{row['test_kl_model']:.2f} / {row['test_kl_lower_bound']:.2f}"


def report(args):
    table = rows(args)
    best = highest_stable_rates(table)
    answered = answers(args, table)
    args.out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["benchmarks/stability.py", *sys.argv[1:]])
    mnist_converged.write_json(args.out / "table.json", dict(
        command=command, rule=f"after epoch {GRACE_EPOCHS}, no epoch more than {DROP_NATS} "
                             f"nats below the best so far; the KL estimate at most {KL_MARGIN} "
                             "nats below its adversary-free bound at the last write",
        runs=table, highest_stable_rate=best, answers=answered))
    text = markdown(table, best) + answers_markdown(answered)
    (args.out / "table.md").write_text(text)
    print(text)


def answers_markdown(result):
    lines = ["", "| comparison (test AIS, 500 images) | per seed: rates, mean difference ± paired SE "
                 "(share of images the model is better on) | mean over seeds ± SE |",
             "|---|---|---|"]
    for name, r in result.items():
        seeds = "; ".join(f"seed {s}: {v['model']} {v['rates'][0]:g} vs {v['rates'][1]:g}, "
                          f"{v['mean']:+.2f} ± {v['paired_se']:.2f} ({v['better_share']:.0%})"
                          for s, v in r["seeds"].items())
        total = "-" if r["mean"] is None else (
            f"{r['mean']:+.2f}" + ("" if r["se_across_seeds"] is None
                                   else f" ± {r['se_across_seeds']:.2f}"))
        lines.append(f"| {name} | {seeds or '-'} | {total} |")
    return "\n".join(lines) + "\n"


#: The figure's panels (the grid's models; the narrower adversaries are the cost's rows) and
#: a colour per rate.
FIGURE_MODELS = (("avb_fullac_z32", "full AC z32"), ("avb_ac_z32", "diagonal AC z32"),
                 ("vae_z32", "VAE z32"), ("avb_fullac_z8", "full AC z8"),
                 ("avb_ac_z8", "diagonal AC z8"), ("vae_z8", "VAE z8"))
RATE_COLOURS = {3e-4: "tab:blue", 1e-3: "tab:green", 3e-3: "tab:red"}


def figure(args):
    """Validation ELBO per epoch of every run in --out/table.json, a panel per model, a
    colour per rate and a line style per seed; a run stopped by the rule ends in a cross
    (its ELBO fell) or a square (its adversary's KL estimate fell behind the bound), drawn
    at the panel's floor where its last epoch fell below it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    table = mnist_converged.read_json(args.out / "table.json")["runs"]
    floor, ceiling = -165.0, -85.0
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True, sharey=True)
    for ax, (model, title) in zip(axes.flat, FIGURE_MODELS):
        runs = sorted((r for r in table.values() if r["model"] == model),
                      key=lambda r: (r["rate"], r["seed"]))
        for r in runs:
            epochs = range(1, len(r["val_elbo"]) + 1)
            values = [floor if v is None else max(v, floor) for v in r["val_elbo"]]
            line, = ax.plot(epochs, values, color=RATE_COLOURS[r["rate"]],
                            linestyle=("-", "--", ":")[r["seed"]], linewidth=1.2,
                            label=f"{r['rate']:g}, seed {r['seed']}")
            if r["finished"] and not r["stable"]:
                ax.plot(len(values), values[-1], "x" if r["adversary_keeps_up"] else "s",
                        color=line.get_color(), markersize=9, markeredgewidth=2,
                        fillstyle="none")
        ax.set_title(title)
        ax.set_ylim(floor - 1, ceiling)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation ELBO (nats)")
    fig.suptitle("Stability grid: validation ELBO per epoch (stopped by the rule: x its ELBO "
                 f"fell, square its adversary lags; values below {floor:g} drawn at {floor:g})")
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"wrote {args.figure}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["train", "ais", "report", "figure"])
    parser.add_argument("--runs", type=Path, default=None,
                        help="the run directories (outside the repository); all steps but figure")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/stability"))
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--preset", default=None,
                        help="ais: evaluate this pretrained preset instead of the grid's runs")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--data-path", default=str(mnist_converged.REPO.parent / "shared" /
                                                   "data" / "mnist.npz"))
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="smoke tests only")
    parser.add_argument("--figure", type=Path, default=Path("docs/figures/stability_grid.png"),
                        help="figure: the PNG to write (from --out's table.json)")
    args = parser.parse_args(argv)
    if args.runs is None and args.step != "figure":
        parser.error(f"{args.step} needs --runs DIR, the folder of the grid's run directories")
    {"train": train, "ais": ais, "report": report, "figure": figure}[args.step](args)


if __name__ == "__main__":
    main()
