"""Builds the saved_models/ zoo: train, evaluate, export, write the model cards.

    .venv/bin/python scripts/build_saved_models.py            # all of them (hours on 2 busy CPUs)
    .venv/bin/python scripts/build_saved_models.py --only mnist_vae_z8 --epochs 1

For each model: `avb-keras train` (its run folder goes under --runs), then the
decoder and the encoder are exported to saved_models/NAME/decoder/<v> and
saved_models/NAME/encoder/<v> (the next free version; the older versions are
removed once it is scored, unless --keep-old-versions), the pretrained preset is
written to saved_models/presets/NAME, and the test metric
that `tests/test_saved_models.py` reproduces is computed from the SavedModels
alone on data that ships with the package, and written into both cards:

- four_frames: exact log p(x) of the four frames by quadrature over the decoder.
- MNIST: -log p(x|z) on the packaged mnist_small test split (1000 images, static
  binarization with seed 0), z from the exported encoder with seed 0; for the
  VAE also its ELBO. The spread over five more seeds is the Monte Carlo error.

MNIST models train on the full MNIST (--mnist, default ../shared/data/mnist.npz
relative to the repository); the mnist_small test images come from MNIST's test
split, which the training never sees.
"""

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
FRAMES_NOTE = "the four one-hot 2x2 frames; the optimum is -log 4 = -1.3863"

#: name -> (model, preset, dataset, latent_dim, extra `avb-keras train` options);
#: epochs: the preset's for four_frames.
MODELS = {
    "four_frames_avb_ac": ("avb", "four_frames", "four_frames", 2, []),
    "mnist_avb_z32": ("avb", "mnist_mlp", "mnist", 32, ["--adaptive-contrast", "none"]),
    "mnist_avb_ac_z32": ("avb", "mnist_mlp", "mnist", 32, ["--adaptive-contrast", "diagonal"]),
    "mnist_avb_fullac_z32": ("avb", "mnist_mlp", "mnist", 32, ["--adaptive-contrast", "full"]),
    "mnist_avb_ac_z8": ("avb", "mnist_mlp", "mnist", 8, ["--adaptive-contrast", "diagonal"]),
    "mnist_avb_fullac_z8": ("avb", "mnist_mlp", "mnist", 8, ["--adaptive-contrast", "full"]),
    "mnist_vae_z32": ("vae", "mnist_mlp", "mnist", 32, []),
    "mnist_vae_z8": ("vae", "mnist_mlp", "mnist", 8, []),
}
#: The one-line description of each pretrained preset (`avb_keras.list_presets()`).
DESCRIPTIONS = {
    "four_frames_avb_ac": "AVB with Adaptive Contrast on the paper's four 2x2 frames (latent 2).",
    "mnist_avb_z32": "Plain AVB (no Adaptive Contrast), mnist_mlp networks, latent 32; its "
                     "adversary's KL falls far below the adversary-free bound, and its AIS "
                     "log p(x) is not converged (see its card).",
    "mnist_avb_ac_z32": "AVB with Adaptive Contrast (diagonal r(z|x), the paper's), mnist_mlp "
                        "networks, latent 32.",
    "mnist_avb_fullac_z32": "AVB with full-covariance Adaptive Contrast, mnist_mlp networks, "
                            "latent 32.",
    "mnist_avb_ac_z8": "AVB with Adaptive Contrast (diagonal r(z|x)), mnist_mlp networks, latent 8.",
    "mnist_avb_fullac_z8": "AVB with full-covariance Adaptive Contrast, mnist_mlp networks, "
                           "latent 8.",
    "mnist_vae_z32": "Gaussian-encoder VAE baseline, mnist_mlp networks, latent 32.",
    "mnist_vae_z8": "Gaussian-encoder VAE baseline, mnist_mlp networks, latent 8.",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), default=None,
                        help="build only these models")
    parser.add_argument("--epochs", type=int, default=6,
                        help="epochs over full MNIST for the MNIST models (default 6)")
    parser.add_argument("--mnist", type=Path, default=REPO.parent / "shared" / "data" / "mnist.npz",
                        help="the full MNIST npz")
    parser.add_argument("--out", type=Path, default=REPO / "saved_models")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/avb_keras_zoo_runs"),
                        help="where the training runs go (not part of the zoo)")
    parser.add_argument("--converged", type=Path, default=None,
                        help="take each MNIST model's finished run from CONVERGED/final/NAME "
                             "(NAME without 'mnist_'; benchmarks/mnist_converged.py), with its "
                             "AIS evaluation, instead of training it here")
    parser.add_argument("--keep-old-versions", action="store_true",
                        help="keep the earlier versions of each SavedModel (default: only the "
                             "new one stays, once it is exported and scored)")
    parser.add_argument("--reuse-runs", action="store_true",
                        help="skip training where --runs already holds a finished run "
                             "(model.keras and metrics.json): evaluate and export it")
    parser.add_argument("--refresh-ais", action="store_true",
                        help="only rewrite the converged presets' AIS test metric from their "
                             "runs' evaluation.json")
    parser.add_argument("--refresh-commands", action="store_true",
                        help="only rewrite every card's commands as a user runs them from a "
                             "clone (data at ../shared/data/mnist.npz, runs under runs/zoo)")
    parser.add_argument("--results-table", action="store_true",
                        help="only print docs/RESULTS.md's zoo table from OUT/index.json")
    return parser.parse_args(argv)


def served_metric(name, decoder_dir, encoder_dir, model_kind):
    """The reproducible test metric of one exported model (see the module docstring)."""
    import numpy as np

    from avb_keras import datasets
    from avb_keras.export import metrics

    if name.startswith("four_frames"):
        frames = np.eye(4, dtype="float32").reshape(4, 2, 2, 1)
        value = float(np.mean(metrics.served_log_likelihood(decoder_dir, frames)))
        return {"name": "log_likelihood", "value": round(value, 6),
                "data": f"four_frames: {FRAMES_NOTE}",
                "how": "mean of avb_keras.export.metrics.served_log_likelihood(decoder, frames) "
                       "(400x400 grid on [-6, 6]^2; deterministic)",
                "tolerance": 1e-4}
    x = next(iter(datasets.load("mnist_small", "test", batch_size=1000, binarize="static",
                                seed=0))).numpy()
    elbo = model_kind == "vae"
    values = metrics.served_reconstruction(encoder_dir, decoder_dir, x, seed=0, elbo=elbo)
    spread = metrics.monte_carlo_spread(encoder_dir, decoder_dir, x, elbo=elbo)
    result = {"name": "reconstruction", "value": round(float(values["reconstruction"].mean()), 4),
              "data": "mnist_small test split (1000 images, packaged), static binarization "
                      "with seed 0",
              "how": "mean of avb_keras.export.metrics.served_reconstruction(encoder, decoder, "
                     f"x, seed=0, batch_size=500{', elbo=True' if elbo else ''})",
              "monte_carlo_std": {k: round(v, 4) for k, v in spread.items()},
              # Same seed: only float summation order differs. Other seeds: 4 sigma.
              "tolerance": 0.01,
              "tolerance_other_seed": round(4 * spread["reconstruction"] + 0.01, 4)}
    if elbo:
        result["elbo"] = round(float(values["elbo"].mean()), 4)
    return result


def build(name, args):
    import keras

    from avb_keras import cli
    from avb_keras.export import model_card, savedmodel

    kind, preset, dataset, latent, extra = MODELS[name]
    converged = args.converged is not None and dataset == "mnist"
    run_dir = (args.converged / "final" / name.removeprefix("mnist_") if converged
               else args.runs / name)
    train_args = ["train", "--model", kind, "--preset", preset, "--dataset", dataset,
                  "--latent-dim", str(latent), "--seed", "0", "--run-dir", str(run_dir), *extra]
    if dataset == "mnist":
        train_args += ["--data-path", str(args.mnist), "--epochs", str(args.epochs)]
    keras.backend.clear_session()
    finished = (run_dir / "model.keras").is_file() and (run_dir / "metrics.json").is_file()
    if converged and not finished:
        raise SystemExit(f"No finished run for {name} in {run_dir}: finish "
                         "benchmarks/mnist_converged.py train first.")
    if not (args.reuse_runs and finished) and not converged:
        if cli.main(train_args) != 0:
            raise SystemExit(f"Training {name} failed.")

    model, summary = savedmodel.load_trained(run_dir)
    card = model_card.card_from_run(summary)
    card.update(user_commands(name, summary.get("command") if converged
                              else "avb-keras " + " ".join(train_args)))
    if not converged and dataset == "mnist":  # a short run trained here, not the zoo's recipe
        card["command"] = (f"python scripts/build_saved_models.py --only {name} "
                           f"--epochs {args.epochs}")
    if dataset == "mnist":
        card["data"] = ("full MNIST: trained on the first 55000 training images (dynamic "
                        "binarization); keras_evaluate is model.evaluate on the 10000 test "
                        "images (dynamic binarization)")
    else:
        card["data"] = ("four_frames: 8192 draws of the four frames per epoch; "
                        "keras_evaluate is model.evaluate on 1024 test draws")
    card["training_budget"] += (f" ({summary['epochs'] * _steps(dataset, summary)} steps) on a "
                                f"shared 2-core CPU machine ({platform.machine()}), "
                                + ("while other work shared it" if converged
                                   else "under nice while other TensorFlow jobs ran"))
    base = args.out / name
    decoder_dir = savedmodel.export_decoder(model, base / "decoder", card=card)
    encoder_dir = savedmodel.export_encoder(model, base / "encoder", card=card)
    metric = served_metric(name, decoder_dir, encoder_dir, kind)
    for directory in (decoder_dir, encoder_dir):
        model_card.update_model_card(directory.parent, directory.name,
                                     {"test_metrics": {"reproducible": metric}})
    if not args.keep_old_versions:  # the new version is complete and scored
        for directory in (decoder_dir, encoder_dir):
            model_card.remove_versions(directory.parent, keep=directory.name)
    test_metric = {"reproducible": metric}
    if converged and (run_dir / "evaluation.json").is_file():
        # The paired AIS of benchmarks/mnist_converged.py evaluate.
        test_metric["ais"] = ais_summary(run_dir / "evaluation.json")
    # model.evaluate's figures, and an adversarial model's KL: never below its bound.
    evaluated = {"keras_test": model_card.test_metrics(summary),
                 **({"kl": card["kl"]} if "kl" in card else {})}
    model.save_to_preset(args.out / "presets" / name, model_card={
        "description": DESCRIPTIONS[name], "latent_dim": latent, "data": card["data"],
        "training_budget": card["training_budget"],
        **{key: card[key] for key in ("training_command", "ais_command", "command") if key in card},
        **evaluated,
        # What `avb-keras evaluate PRESET` scores it on by default: offline data.
        "evaluate_on": {"dataset": "mnist_small" if dataset == "mnist" else dataset,
                        "batch_size": 500, "seed": 0},
        "test_metric": test_metric})
    print(f"{name}: {metric['name']} = {metric['value']} ({decoder_dir}, {encoder_dir}, "
          f"preset {args.out / 'presets' / name})", flush=True)
    return {"name": name, "decoder": str(decoder_dir.relative_to(args.out)),
            "encoder": str(encoder_dir.relative_to(args.out)), "metric": metric,
            **evaluated, "budget": card["training_budget"]}


def ais_summary(path):
    """{name, value, standard_error, examples, how, temperature_check, converged} of a
    converged run's evaluation.json: an unconverged AIS is a loose lower bound (the
    check and its 0.2-nat rule: avb_keras.evaluation.convergence)."""
    import numpy as np

    from avb_keras.evaluation import CONVERGED_NATS, check_difference

    result = json.loads(Path(path).read_text())
    ais, steps = np.asarray(result["ais"]), result.get("ais_steps", 500)
    difference = round(check_difference(result), 2)
    return {"name": "ais_log_likelihood", "value": round(float(ais.mean()), 2),
            "standard_error": round(float(ais.std(ddof=1) / np.sqrt(len(ais))), 2),
            "examples": len(ais),
            "how": f"benchmarks/mnist_converged.py evaluate or benchmarks/stability.py ais: "
                   f"AIS (8 chains, {steps} temperatures) on the first test images of full "
                   "MNIST, binarized once with seed 0",
            "temperature_check": {"temperatures": result["check_steps"], "against": steps,
                                  "examples": len(result["ais_check_first20"]),
                                  "difference": difference},
            "converged": abs(difference) <= CONVERGED_NATS}


def preset_cards(out):
    """(name, metadata.json's path, its contents) of each pretrained preset under OUT."""
    from avb_keras import preset_files

    for name in sorted(MODELS):
        path = out / "presets" / name / preset_files.METADATA_FILE
        if path.is_file():
            yield name, path, json.loads(path.read_text())


def refresh_ais(out):
    """Rewrite each converged MNIST preset's test_metric.ais from the evaluation.json of
    the run its card names (--converged RUNS in its command), without rebuilding it."""
    from avb_keras.atomic import write_text

    for name, path, metadata in preset_cards(out):
        card = metadata["model_card"]
        command = card["command"].split()
        if "--converged" not in command:
            continue
        runs = Path(command[command.index("--converged") + 1])
        card["test_metric"]["ais"] = ais_summary(
            runs / "final" / name.removeprefix("mnist_") / "evaluation.json")
        write_text(path, json.dumps(metadata, indent=2))
        print(f"{name}: {card['test_metric']['ais']}", flush=True)


#: Where a card's commands find full MNIST and put their runs: paths in a clone of the
#: repository beside ../shared, as in the README.
USER_DATA, USER_RUNS = "../shared/data/mnist.npz", "runs/zoo"
#: Flags a recorded command may carry in an older spelling, and today's.
RESPELLED = {"--no-adaptive-contrast": ["--adaptive-contrast", "none"]}


def user_commands(name, recorded):
    """{training_command, ais_command, command} of model `name` as a user runs them from
    a clone: `recorded` (the run's `avb-keras train ...`) with the data at USER_DATA, the
    run where the build looks for it (USER_RUNS/final/NAME for MNIST), every flag in
    today's spelling and AVB's contrast (and full AC's adversary width) named (the
    preset's defaults have changed since some of the runs); then the converged AIS and
    the build from that run."""
    words = [w for old in recorded.split() for w in RESPELLED.get(old, [old])]
    kind, preset, dataset, latent, extra = MODELS[name]
    short = name.removeprefix("mnist_")
    values = {"--run-dir": f"{USER_RUNS}/final/{short}" if dataset == "mnist"
              else f"{USER_RUNS}/{name}", "--data-path": USER_DATA}
    words = [values.get(words[i - 1], w) if i else w for i, w in enumerate(words)]
    if kind == "avb" and "--adaptive-contrast" not in words:
        words += ["--adaptive-contrast", "diagonal"]
    full = kind == "avb" and words[words.index("--adaptive-contrast") + 1] == "full"
    if full and "--adversary-width" not in words:  # T as wide as before full AC's narrowed
        words += ["--adversary-width", "1"]
    if dataset != "mnist":
        return {"training_command": " ".join(words),
                "command": f"python scripts/build_saved_models.py --only {name}"}
    return {"training_command": " ".join(words),
            "ais_command": f"python benchmarks/mnist_converged.py evaluate --runs {USER_RUNS} "
                           f"--models {short} --data-path {USER_DATA}",
            "command": f"python scripts/build_saved_models.py --only {name} "
                       f"--converged {USER_RUNS}"}


def refresh_commands(out):
    """Rewrite every preset's and SavedModel's card commands as `user_commands`."""
    from avb_keras.atomic import write_text
    from avb_keras.export import model_card

    for name, path, metadata in preset_cards(out):
        card = metadata["model_card"]
        card.update(user_commands(name, card["training_command"]))
        write_text(path, json.dumps(metadata, indent=2))
        for servable in ("decoder", "encoder"):
            base = out / name / servable
            versions = json.loads((base / model_card.CARD_JSON).read_text())["versions"]
            for version in versions:
                model_card.update_model_card(base, version, user_commands(
                    name, versions[version]["training_command"]))
        print(f"{name}: {card['training_command']}", flush=True)


def _steps(dataset, summary):
    """Steps per epoch: 55000 MNIST training images, or 8192 four_frames draws."""
    examples = 55000 if dataset == "mnist" else 8192
    return -(-examples // summary["batch_size"])


def write_index(out, built):
    """saved_models/index.json: what was built last, for the README and the zoo test."""
    from avb_keras.atomic import write_text

    path = out / "index.json"
    index = json.loads(path.read_text()) if path.exists() else {}
    index.update({entry["name"]: entry for entry in built})
    write_text(path, json.dumps(dict(sorted(index.items())), indent=2) + "\n")


def results_table(out):
    """docs/RESULTS.md's zoo table (markdown) from OUT/index.json."""
    index = json.loads((out / "index.json").read_text())
    lines = ["| model | training | reproducible test metric (nats) | Monte Carlo std over 5 "
             "seeds | `model.evaluate` on its test set | KL the card reports, first 256 test images "
             "(its ELBO, whole test set) |",
             "|---|---|---|---|---|---|"]
    for name, entry in index.items():
        metric, test = entry["metric"], entry["keras_test"]
        if metric["name"] == "log_likelihood":
            value = f"exact log p(x) = {metric['value']:.4f} (optimum -1.3863)"
            spread = "deterministic"
        else:
            value = f"-log p(x\\|z) = {metric['value']:.3f}" + (
                f"; ELBO = {metric['elbo']:.3f}" if "elbo" in metric else "")
            spread = f"{metric['monte_carlo_std']['reconstruction']:.3f}"
        evaluated = ", ".join(f"{key} {test[key]:.2f}" for key in (
            "reconstruction", "elbo", "kl", "adversary_elbo", "adversary_kl",
            "adversary_accuracy") if key in test)
        kl = entry.get("kl")
        reported = (f"{kl['value']:.2f} from the {kl['source']} ({kl['elbo']:.2f})" if kl
                    else f"{test['kl']:.2f}, exact ({test['elbo']:.2f})")
        lines.append(f"| `{name}` | {entry['budget'].split(' on a ')[0]} | {value} | {spread} "
                     f"| {evaluated} | {reported} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.results_table:
        print(results_table(args.out))
        return 0
    if args.refresh_ais:
        refresh_ais(args.out)
        return 0
    if args.refresh_commands:
        refresh_commands(args.out)
        return 0
    names = args.only or list(MODELS)
    if (any(MODELS[n][2] == "mnist" for n in names) and not args.mnist.is_file()
            and args.converged is None):
        raise SystemExit(f"Full MNIST not found at {args.mnist}; pass --mnist PATH.")
    args.out.mkdir(parents=True, exist_ok=True)
    built = []
    for name in names:
        built.append(build(name, args))
        write_index(args.out, built)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    import avb_keras
    print(f"avb_keras from {avb_keras.__file__}", flush=True)
    sys.exit(main())
