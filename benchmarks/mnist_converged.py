"""The converged MNIST comparison: a rate sweep, resumable runs, paired AIS (issue 12).

Models (mnist_mlp networks: the same decoder and encoder trunk for all):

    vae_z32, avb_z32 (plain), avb_ac_z32 (diagonal r), avb_fullac_z32 (full r),
    vae_z8, avb_ac_z8 (diagonal r), avb_fullac_z8 (full r: the better contrast at 32)

Steps, each resumable (rerun the same command; finished work is read back):

    sweep     each model at each primal rate of --rates for --sweep-epochs, with the final
              runs' schedule (cosine decay over the sweep's epochs, EMA 0.999), scored by one
              rule for every model: the AIS log-likelihood of --sweep-examples validation
              images (8 chains, 100 temperatures, seed 0); the best rate wins, and a best
              rate at an end of the grid extends it by 3x past that end (--extend times)
    train     each model, one `avb-keras train` run (run directory under --runs) at its
              chosen rate, a cosine decay over --epochs and a moving average (EMA 0.999);
              a run that diverges (its last validation ELBO more than 5 nats below its
              best) is set aside and the model trains again at the next lower sweep rate
    evaluate  AIS on the same --ais-examples statically binarized test images for every
              model (8 chains, --ais-steps temperatures, seed 0; per-image values kept for
              pairing), the model's own KL beside `evaluation.kl_lower_bound`, IWAE(5000)
              for the VAEs, and --check-steps (2000) temperatures on 20 images as a check
    tighten   the same rule for every model: where the check moves AIS by more than 0.2
              nats, AIS again at the check's temperatures and a check at 4x, up to
              --max-steps
    lower     the second rule, in another --runs: every model one sweep rate below its
              first-rule final rate (--rule1 RUNS); then train, evaluate and report there
    select    of each model's two final runs, the one with the higher validation AIS (the
              sweep's score); the paired test AIS of the selected runs (--rule1, --runs)
    report    docs/RESULTS-ready markdown and JSON: mean +/- standard error, the paired
              difference to the VAE of the same latent size +/- its paired standard error,
              the sweep, and validation curves (PNG) from each run's epochs.jsonl

    python benchmarks/mnist_converged.py sweep --runs /work/runs/mnist
    python benchmarks/mnist_converged.py train --runs /work/runs/mnist --epochs 100
    python benchmarks/mnist_converged.py evaluate --runs /work/runs/mnist
    python benchmarks/mnist_converged.py report --runs /work/runs/mnist \
        --out benchmarks/results/mnist_converged

Run directories live outside the repository (--runs); the report's files go in it.
MNIST comes from --data-path (default ../shared/data/mnist.npz beside the repository).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
#: name -> (--model, --latent-dim, extra `avb-keras train` options)
MODELS = {
    "vae_z32": ("vae", 32, []),
    "avb_z32": ("avb", 32, ["--adaptive-contrast", "none"]),
    "avb_ac_z32": ("avb", 32, ["--adaptive-contrast", "diagonal"]),
    # T as wide as the others' (mnist_mlp's full AC takes a quarter of it by default since).
    "avb_fullac_z32": ("avb", 32, ["--adaptive-contrast", "full", "--adversary-width", "1"]),
    "vae_z8": ("vae", 8, []),
    "avb_ac_z8": ("avb", 8, ["--adaptive-contrast", "diagonal"]),
    # The better AVB+AC at latent 32 (full AC, by +0.90 +- 0.14 nats) also at latent 8.
    "avb_fullac_z8": ("avb", 8, ["--adaptive-contrast", "full", "--adversary-width", "1"]),
}
#: The model each row is paired with (same latent size).
BASELINE = {"32": "vae_z32", "8": "vae_z8"}
#: Further paired comparisons, row -> the row it is compared with: full AC against the
#: paper's diagonal AC.
COMPARED_WITH = {"avb_fullac_z32": "avb_ac_z32", "avb_fullac_z8": "avb_ac_z8"}


def train_command(name, rate, epochs, run_dir, args, schedule=True, seed=0):
    model, latent, extra = MODELS[name]
    command = [sys.executable, "-m", "avb_keras", "train", "--model", model,
               "--preset", "mnist_mlp", "--dataset", "mnist", "--data-path", args.data_path,
               "--latent-dim", str(latent), "--epochs", str(epochs), "--run-dir", str(run_dir),
               "--learning-rate", str(rate), "--adversary-learning-rate", str(2 * rate),
               "--seed", str(seed), "--log-every", "500", *extra]
    if schedule:
        command += ["--lr-schedule", "cosine", "--ema", "0.999"]
    if args.steps_per_epoch:  # smoke tests only
        command += ["--steps-per-epoch", str(args.steps_per_epoch)]
    return command


def run(command):
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def sweep(args):
    """Each model at each rate for --sweep-epochs; validation AIS decides."""
    results = read_json(args.runs / "sweep.json")

    def tried(name):
        return sorted((r for r in results.values() if r["model"] == name), key=lambda r: r["rate"])

    def best(name):
        return max(tried(name), key=lambda r: r["valid_ais"])

    def try_rate(name, rate):
        key = f"{name}@{rate:.3g}"
        if key not in results:
            run_dir = args.runs / "sweep" / key
            run(train_command(name, rate, args.sweep_epochs, run_dir, args))
            results[key] = dict(model=name, rate=rate, **score(run_dir, args))
            write_json(args.runs / "sweep.json", results)

    for name in args.models:
        for rate in args.rates:
            try_rate(name, rate)
        # The same rule for every model: a best rate at an end of the grid extends the grid
        # by a factor of 3 beyond that end, at most --extend times.
        for _ in range(args.extend):
            rates = [r["rate"] for r in tried(name)]
            if best(name)["rate"] == rates[-1]:
                try_rate(name, rates[-1] * 3)
            elif best(name)["rate"] == rates[0]:
                try_rate(name, rates[0] / 3)
            else:
                break
    # Merged: a sweep of some --models keeps the other models' choices.
    chosen = read_json(args.runs / "chosen_rates.json")
    chosen.update({name: best(name)["rate"] for name in args.models if tried(name)})
    write_json(args.runs / "chosen_rates.json", chosen)
    print(json.dumps(chosen, indent=1))


def score(run_dir, args):
    """The sweep's one rule: AIS log p(x) of the first validation images."""
    from avb_keras import evaluation, saving
    model = saving.load_model(run_dir / "model.keras")
    x = static_images("valid", args.sweep_examples, args)
    result = evaluation.evaluate_log_likelihood(model, x, batch_size=50, num_steps=100,
                                                num_chains=8, seed=0, verbose=0)
    return {"valid_ais": result.mean, "valid_ais_se": result.standard_error}


def static_images(split, count, args):
    """The first `count` images of `split`, binarized once with seed 0 (the same for all)."""
    import numpy as np
    from avb_keras.datasets import mnist
    images = mnist.arrays(split, path=args.data_path)[0][:count].astype("float32") / 255.0
    return (np.random.default_rng(0).random(images.shape) < images).astype("float32")


#: A final run diverged if its last validation ELBO lies this many nats below its best
#: epoch's (with a cosine decay and a moving average, a stable run ends near its best).
DIVERGED_NATS = 5.0


def train(args):
    """One resumable `avb-keras train` run per model at its chosen rate.

    The same rule for every model: a run that diverged (`diverged`) is set aside as
    final/NAME.diverged@RATE and the model trains again at the next lower rate of its
    sweep. final_rates.json records the rate of each final run and the rates that diverged.
    """
    chosen = read_json(args.runs / "chosen_rates.json")
    sweep = read_json(args.runs / "sweep.json")
    final = read_json(args.runs / "final_rates.json")
    for name in args.models:
        if name not in chosen:
            raise SystemExit(f"No chosen rate for {name}: run `sweep` first.")
        record = final.setdefault(name, {"diverged": []})
        run_dir = args.runs / "final" / name
        rates = sorted({r["rate"] for r in sweep.values()
                        if r["model"] == name and r["rate"] <= chosen[name]}, reverse=True)
        for rate in (r for r in rates if r not in record["diverged"]):
            if not (run_dir / "metrics.json").exists():
                start = time.time()
                run(train_command(name, rate, args.epochs, run_dir, args))
                print(f"{name}: {time.time() - start:.0f} s", flush=True)
            if not diverged(run_dir):
                record["rate"] = rate
                break
            print(f"{name} diverged at rate {rate:g}; next: a lower rate", flush=True)
            record["diverged"].append(rate)
            run_dir.rename(run_dir.with_name(f"{name}.diverged@{rate:.3g}"))
            write_json(args.runs / "final_rates.json", final)
        else:
            raise SystemExit(f"{name} diverged at every rate of its sweep up to {chosen[name]}.")
        write_json(args.runs / "final_rates.json", final)


def lower(args):
    """The second rule, in a new --runs: each model's rate is the sweep rate just below the
    rate of its first-rule final run (--rule1 RUNS). Copies the sweep; then `train`,
    `evaluate` and `report` run there unchanged."""
    sweep = read_json(args.rule1 / "sweep.json")
    final = read_json(args.rule1 / "final_rates.json")
    chosen = read_json(args.runs / "chosen_rates.json")  # other models' choices stay
    for name in args.models:
        if "rate" not in final.get(name, {}):
            raise SystemExit(f"{name} has no final run in {args.rule1}: train it first.")
        below = sorted(r["rate"] for r in sweep.values()
                       if r["model"] == name and r["rate"] < final[name]["rate"])
        if not below:
            raise SystemExit(f"{name}: no sweep rate below {final[name]['rate']:g}.")
        chosen[name] = below[-1]
    write_json(args.runs / "sweep.json", sweep)
    write_json(args.runs / "chosen_rates.json", chosen)
    print(json.dumps(chosen, indent=1))


def diverged(run_dir):
    """Whether the run's last validation ELBO is non-finite or more than DIVERGED_NATS
    below its best epoch's."""
    import math
    elbo = [e["val_elbo"] for e in journal(run_dir)]
    if not all(math.isfinite(v) for v in elbo):
        return True
    return elbo[-1] < max(elbo) - DIVERGED_NATS


def evaluate(args):
    """Paired AIS on the same test images, the KL and its bound, IWAE for the VAEs."""
    import numpy as np
    from avb_keras import evaluation, saving
    x = static_images("test", args.ais_examples, args)
    for name in args.models:
        out = args.runs / "final" / name / "evaluation.json"
        if out.exists():
            continue
        model = saving.load_model(args.runs / "final" / name / "model.keras")
        start = time.time()
        ais, check = paired_ais(model, x, args.ais_steps, args.check_steps)
        bound = evaluation.kl_lower_bound(model, x[:args.kl_examples], seed=0).kl_lower_bound
        kl = model.compute_terms(model.images(x[:args.kl_examples]))["kl"].numpy()
        result = {"ais": ais.tolist(), "ais_steps": args.ais_steps,
                  "ais_check_first20": check.tolist(), "check_steps": args.check_steps,
                  "kl_model": float(kl.mean()), "kl_lower_bound": float(bound.mean()),
                  "seconds": round(time.time() - start, 1)}
        if name.startswith("vae"):
            result["iwae_5000"] = float(np.mean(np.concatenate([
                evaluation.iwae_bound(model, x[i:i + 50], 5000, seed=[2, i // 50])
                for i in range(0, len(x), 50)])))
        write_json(out, result)
        print(f"{name}: AIS {ais.mean():.2f}, {result['seconds']} s", flush=True)


def paired_ais(model, x, steps, check_steps):
    """AIS of every image (8 chains, `steps` temperatures, seed [0, i // 50] for the batch
    of 50 from image i: the same draws for every model) and of the first 20 images at
    `check_steps` temperatures (seed [1, 0])."""
    import numpy as np
    from avb_keras import evaluation
    ais = np.concatenate([evaluation.ais_log_likelihood(
        model, x[i:i + 50], num_chains=8, num_steps=steps, seed=[0, i // 50]).log_likelihood
        for i in range(0, len(x), 50)])
    check = evaluation.ais_log_likelihood(model, x[:20], num_chains=8, num_steps=check_steps,
                                          seed=[1, 0]).log_likelihood
    return ais, check


def tighten(args):
    """The same rule for every model: where the check moves AIS by more than
    CONVERGED_NATS, evaluate again at the check's temperatures (all images, the same
    seeds) and check that against 4x as many; repeated until the check passes or
    --max-steps is reached. evaluation.json keeps each earlier pass under "earlier"
    (the rule: avb_keras.evaluation.convergence)."""
    from avb_keras import saving
    from avb_keras.evaluation.convergence import CONVERGED_NATS, check_difference
    x = static_images("test", args.ais_examples, args)
    for name in args.models:
        path = args.runs / "final" / name / "evaluation.json"
        result = read_json(path)
        model = None
        while result and abs(check_difference(result)) > CONVERGED_NATS \
                and result["check_steps"] < args.max_steps:
            model = model or saving.load_model(args.runs / "final" / name / "model.keras")
            start, steps = time.time(), result["check_steps"]
            ais, check = paired_ais(model, x, steps, 4 * steps)
            # (evaluation.json files written before "ais_steps" existed used --ais-steps)
            earlier = {"ais_steps": result.pop("ais_steps", args.ais_steps),
                       **{key: result.pop(key) for key in
                          ("ais", "ais_check_first20", "check_steps")}}
            result = {**result, "ais": ais.tolist(), "ais_steps": steps,
                      "ais_check_first20": check.tolist(), "check_steps": 4 * steps,
                      "earlier": [*result.pop("earlier", []), earlier],
                      "tighten_seconds": round(time.time() - start, 1)}
            write_json(path, result)
            print(f"{name}: AIS {ais.mean():.2f} at {steps} temperatures, check "
                  f"{check_difference(result):+.2f} at {4 * steps}", flush=True)


def report(args):
    """Table rows with paired standard errors, the sweep, and validation curves."""
    rows = {}
    for name in args.models:
        path = args.runs / "final" / name / "evaluation.json"
        if path.exists():
            rows[name] = read_json(path)
    table = paired_rows(rows, {name: args.runs / "final" / name for name in rows})
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "table.json", {"command": " ".join(sys.argv), "rows": table,
                                         "sweep": read_json(args.runs / "sweep.json"),
                                         "final_rates": read_json(args.runs / "final_rates.json")})
    final = read_json(args.runs / "final_rates.json")
    (args.out / "table.md").write_text(
        "\n".join([markdown_table(table, rows, final), *comparison_lines(table)]) + "\n")
    plot_curves(args)
    print(json.dumps(table, indent=1))


def paired_rows(rows, run_dirs):
    """{name: entry} from each model's evaluation.json: AIS mean +/- standard error, the
    2000-temperature check, the KL beside its bound, the run's budget, and the paired
    difference to the VAE of the same latent size (where it is among `rows`)."""
    import numpy as np

    from avb_keras.evaluation.convergence import check_difference
    table = {}
    for name, result in rows.items():
        ais = np.asarray(result["ais"])
        entry = {"mean": float(ais.mean()), "se": float(ais.std(ddof=1) / np.sqrt(len(ais))),
                 "kl_model": result["kl_model"], "kl_lower_bound": result["kl_lower_bound"],
                 "check_minus_ais_first20": check_difference(result),
                 "ais_steps": result.get("ais_steps", 500),
                 "check_steps": result["check_steps"]}
        baseline = BASELINE[name.rsplit("_z", 1)[1]]
        if baseline in rows and baseline != name:
            entry.update(zip(("paired_difference", "paired_se"),
                             paired(ais, rows[baseline]["ais"])))
        other = COMPARED_WITH.get(name)
        if other in rows:
            entry["compared_with"] = dict(zip(("model", "paired_difference", "paired_se"),
                                              (other, *paired(ais, rows[other]["ais"]))))
        entry.update(budget(run_dirs[name]))
        table[name] = entry
    return table


def paired(ais, other):
    """The mean per-image difference of two models' AIS values and its standard error."""
    import numpy as np
    difference = np.asarray(ais) - np.asarray(other)
    return float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(len(difference)))


def comparison_lines(table):
    """One line per COMPARED_WITH pair below a table: the paired difference."""
    return [f"\n{name} minus {entry['compared_with']['model']} (paired, same images): "
            f"{entry['compared_with']['paired_difference']:+.2f} ± "
            f"{entry['compared_with']['paired_se']:.2f} nats"
            for name, entry in table.items() if "compared_with" in entry]


def select(args):
    """Of each model's two final runs (the first rule's in --rule1, the second's in
    --runs), the one with the higher validation AIS: the sweep's score (`score`), the same
    rule for every model. The test AIS of the selected runs, paired against the selected
    VAE, goes to --out (table.json, table.md)."""
    picks, rows, run_dirs = {}, {}, {}
    for name in args.models:
        candidates = {}
        for rule, runs in (("rule 1", args.rule1), ("rule 2", args.runs)):
            run_dir = runs / "final" / name
            if not (run_dir / "evaluation.json").exists():
                continue
            path = run_dir / "valid_score.json"
            if not path.exists():
                write_json(path, score(run_dir, args))
            candidates[rule] = {"rate": read_json(runs / "final_rates.json")[name]["rate"],
                                **read_json(path), "run_dir": str(run_dir)}
        if candidates:
            rule = max(candidates, key=lambda r: candidates[r]["valid_ais"])
            picks[name] = {"selected": rule, **candidates}
            run_dirs[name] = Path(candidates[rule]["run_dir"])
            rows[name] = read_json(run_dirs[name] / "evaluation.json")
    table = paired_rows(rows, run_dirs)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "table.json", {"command": " ".join(sys.argv), "picks": picks,
                                         "rows": table})
    text = "\n".join([selection_table(picks, table), *comparison_lines(table)])
    (args.out / "table.md").write_text(text + "\n")
    print(text)


def selection_table(picks, table):
    """The markdown of `select`: both rules' rates and validation AIS, the pick, its test AIS."""
    def pm(value, error):
        return f"{value:.2f} ± {error:.2f}"

    def rule(pick, name):
        return (f"{pick[name]['rate']:g}: {pm(pick[name]['valid_ais'], pick[name]['valid_ais_se'])}"
                if name in pick else "")

    lines = ["| model | rule 1: rate, validation AIS | rule 2: rate, validation AIS | selected "
             "| test AIS log p(x) | minus the VAE's (paired) | adversary's KL | KL lower bound |",
             "|" + "---|" * 8]
    for name, entry in table.items():
        pick = picks[name]
        lines.append(" | ".join([
            f"| {name}", rule(pick, "rule 1"), rule(pick, "rule 2"), pick["selected"],
            pm(entry["mean"], entry["se"]),
            pm(entry["paired_difference"], entry["paired_se"]) if "paired_se" in entry else "",
            f"{entry['kl_model']:.2f}", f"{entry['kl_lower_bound']:.2f}"]) + " |")
    return "\n".join(lines)


def check_text(entry):
    """The check's cell: the difference, with its temperatures where `tighten` raised them."""
    text = f"{entry['check_minus_ais_first20']:+.2f}"
    if (entry["ais_steps"], entry["check_steps"]) != (500, 2000):
        text += f" ({entry['check_steps']} - {entry['ais_steps']}; AIS at {entry['ais_steps']})"
    return text


#: The paper's AIS log p(x) on binarized MNIST (Mescheder et al. 2017, Table 2), by row.
PAPER = {"vae_z8": -98.1, "avb_ac_z8": -96.3, "vae_z32": -87.2, "avb_ac_z32": -79.5}


def markdown_table(table, rows, final):
    """The docs/RESULTS.md table: one row a model, nats, paired against the VAE."""
    def pm(value, error):
        return f"{value:.2f} ± {error:.2f}"

    lines = ["| model | rate | epochs (steps, train s) | AIS log p(x) | minus the VAE's "
             "(paired) | check: 2000 - 500 temperatures (20 images) | adversary's KL | KL lower "
             "bound | IWAE(5000) | val ELBO gain, last 10 epochs | paper |",
             "|" + "---|" * 11]
    for name, entry in table.items():
        paired = (pm(entry["paired_difference"], entry["paired_se"])
                  if "paired_difference" in entry else "")
        iwae = rows[name].get("iwae_5000")
        gain = entry.get("val_elbo_gain_last10")
        lines.append(" | ".join([
            f"| {name}", rate_text(final.get(name, {})),
            f"{entry['epochs']} ({entry['steps']}, {entry['train_seconds']:.0f})",
            pm(entry["mean"], entry["se"]), paired,
            check_text(entry), f"{entry['kl_model']:.2f}", f"{entry['kl_lower_bound']:.2f}",
            f"{iwae:.2f}" if iwae is not None else "",
            f"{gain:+.2f}" if gain is not None else "",
            f"{PAPER[name]}" if name in PAPER else ""]) + " |")
    return "\n".join(lines)


def budget(run_dir):
    """Epochs, steps, training seconds, and how flat the validation curve ended: the gain
    in validation ELBO over the last 10 epochs (mean of the last 5 minus the 5 before)."""
    summary = read_json(run_dir / "metrics.json")
    epochs = journal(run_dir)
    elbo = [e["val_elbo"] for e in epochs]
    steps = summary["epochs"] * -(-55000 // summary["batch_size"])
    return {"epochs": summary["epochs"], "steps": steps,
            "train_seconds": summary["train_seconds"],
            "val_elbo_last": elbo[-1],
            "val_elbo_gain_last10": (sum(elbo[-5:]) - sum(elbo[-10:-5])) / 5
            if len(elbo) >= 10 else None}


def journal(run_dir):
    path = Path(run_dir) / "epochs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def kl_curves(run_dir):
    """{tag: (steps, values)} of the monitor's kl/estimate and kl/lower_bound scalars."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util
    curves = {}
    for events in sorted((Path(run_dir) / "logs" / "avb").glob("events.out.tfevents.*")):
        accumulator = event_accumulator.EventAccumulator(str(events), size_guidance={"tensors": 0})
        accumulator.Reload()
        for tag in ("kl/estimate", "kl/lower_bound"):
            if tag in accumulator.Tags()["tensors"]:
                steps, values = curves.setdefault(tag, ([], []))
                for event in accumulator.Tensors(tag):
                    steps.append(event.step)
                    values.append(float(tensor_util.make_ndarray(event.tensor_proto)))
    return curves


def rate_text(record):
    """The final run's rate, and the rates that diverged before it."""
    text = f"{record.get('rate', float('nan')):g}"
    if record.get("diverged"):
        text += " (diverged: " + ", ".join(f"{r:g}" for r in record["diverged"]) + ")"
    return text


def plot_curves(args):
    """Validation ELBO per epoch for every model; the adversary's KL against its lower
    bound for the AVB models (the monitor's values every --log-every steps)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in args.models:
        run_dir = args.runs / "final" / name
        epochs = journal(run_dir)
        if epochs:
            left.plot([e["epoch"] for e in epochs], [e["val_elbo"] for e in epochs], label=name)
        if name.startswith("avb") and epochs:
            steps_per_epoch = -(-55000 // read_json(run_dir / "metrics.json").get(
                "batch_size", 128))
            for tag, style in (("kl/estimate", "-"), ("kl/lower_bound", "--")):
                steps, values = kl_curves(run_dir).get(tag, ([], []))
                right.plot([s / steps_per_epoch for s in steps], values, style,
                           label=f"{name} {tag.split('/')[1]}")
    left.set(xlabel="epoch", ylabel="validation ELBO (nats; an estimate for AVB)")
    left.set_ylim(-140, -60)  # the early epochs of unstable runs fall far below
    right.set(xlabel="epoch", ylabel="KL(q||p), nats: adversary's estimate and lower bound",
              yscale="log")
    for ax in (left, right):
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "validation_curves.png", dpi=80)


def read_json(path):
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def write_json(path, value):
    from avb_keras import atomic
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(value, indent=1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("sweep", "train", "evaluate", "tighten", "report",
                                         "lower", "select"))
    parser.add_argument("--runs", type=Path, required=True,
                        help="run directories (outside the repository)")
    parser.add_argument("--data-path", default=str(REPO.parent / "shared" / "data" / "mnist.npz"))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3])
    parser.add_argument("--sweep-epochs", type=int, default=5)
    parser.add_argument("--extend", type=int, default=2,
                        help="times the grid may grow past an end where the best rate lies")
    parser.add_argument("--sweep-examples", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--ais-examples", type=int, default=500)
    parser.add_argument("--ais-steps", type=int, default=500)
    parser.add_argument("--kl-examples", type=int, default=500)
    parser.add_argument("--check-steps", type=int, default=2000,
                        help="temperatures of the check on the first 20 test images")
    parser.add_argument("--max-steps", type=int, default=8000,
                        help="tighten: the most temperatures a check may use")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="cap every epoch (a quick check of the pipeline, not a result)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--rule1", type=Path, default=None,
                        help="lower, select: the first rule's --runs")
    args = parser.parse_args(argv)
    args.out = args.out or args.runs / "report"
    if args.step in ("lower", "select") and args.rule1 is None:
        parser.error(f"{args.step} needs --rule1 RUNS (the first rule's run directories)")
    {"sweep": sweep, "train": train, "evaluate": evaluate, "tighten": tighten, "report": report,
     "lower": lower, "select": select}[args.step](args)


if __name__ == "__main__":
    main()
