"""`avb-keras evaluate`: a trained model's test metrics, KL bound and AIS log-likelihood.

The test split is the one the run was scored on: its data set, data path, image
size, batch size and seed come from RUN_DIR/metrics.json (a bare `.keras` file
needs --dataset). The model's own draws are seeded with that seed, so the same
command gives the same numbers. The report goes to RUN_DIR/evaluation.json
(beside a bare model file, MODEL.evaluation.json; for a preset,
./PRESET.evaluation.json in the current directory) or --out, and the command
prints where.

An adversarial model's `kl` and `elbo` are the adversary's estimates. Beside them
the report gives the ELBO corrected by the adversary-free KL bound, the model
card's rule (`model_card.reported_kl`), and with --ais it flags any ELBO above the
AIS log p(x) as impossible: an ELBO is a lower bound on log p(x) (Mescheder et al.,
2017, eq. 3), and AIS estimates log p(x) from below, tightly once converged.
"""

import json

from avb_keras import atomic, datasets, evaluation, saving, seeding
from avb_keras.cli.common import default_output, first_images, kl_bound_summary, load_split
from avb_keras.export import model_card

#: The batch size for a bare model file (a run folder's is the run's).
DEFAULT_BATCH_SIZE = 128
#: An ELBO this many AIS standard errors above the AIS log p(x) is flagged as impossible.
IMPOSSIBLE_MARGIN = 3.0


def evaluate(args):
    """`avb-keras evaluate ARGS`: prints a summary and writes the JSON report; returns 0."""
    model, summary = saving.load_run(args.model_path)
    source = test_source(args, summary, model)
    test_data = load_split(source["dataset"], "test", source["batch_size"],
                           source["data_path"], source["seed"], source["image_size"])
    with seeding.seeded(model, source["seed"]):
        metrics = model.evaluate(test_data, return_dict=True, verbose=0)
    report = {"model": type(model).__name__, "model_path": str(args.model_path),
              "data": source, "test": {k: float(v) for k, v in metrics.items()},
              "kl_lower_bound": kl_bound_summary(model, test_data, source["seed"],
                                                 args.num_examples)}
    if model_card.is_adversarial(report):
        report["corrected"] = model_card.reported_kl(report)
    if args.ais:
        report["ais"] = ais_summary(model, test_data, source["seed"], args)
        report["impossible"] = impossible_elbos(report)
    out = args.out or default_output(args.model_path, "evaluation.json")
    atomic.write_text(out, json.dumps(report, indent=2))
    print_report(report, out)
    return 0


def test_source(args, summary, model):
    """{dataset, data_path, image_size, batch_size, seed}: the options, else the run's.

    Raises:
      ValueError: no data set (a bare model file without --dataset), or data that
        is not shaped like the model's.
    """
    run = summary or {}
    dataset = args.dataset or run.get("dataset")
    if dataset is None:
        raise ValueError(f"{args.model_path} has no metrics.json to name its data; give "
                         "--dataset (and --data-path, --image-size as for train).")
    same_data = dataset == run.get("dataset")
    source = {"dataset": dataset,
              "data_path": args.data_path or (run.get("data_path") if same_data else None),
              "image_size": args.image_size or (run.get("image_size") if same_data else None),
              "batch_size": args.batch_size or run.get("batch_size", DEFAULT_BATCH_SIZE),
              "seed": args.seed if args.seed is not None else run.get("seed", 0)}
    if dataset == "folder" and source["image_size"] is None:
        source["image_size"] = model.data_shape[0]
    shape = datasets.data_shape(dataset, source["image_size"])
    if tuple(shape) != tuple(model.data_shape):
        raise ValueError(f"The model takes data shaped {tuple(model.data_shape)}, but "
                         f"--dataset {dataset} gives {tuple(shape)}.")
    return source


def ais_summary(model, test_data, seed, args):
    """The AIS log-likelihood (nats) of the first --num-examples test images."""
    x = first_images(model, test_data, args.num_examples)
    result = evaluation.evaluate_log_likelihood(model, x, verbose=1, seed=seed,
                                                num_steps=args.ais_steps,
                                                num_chains=args.ais_chains)
    return {"mean": result.mean, "standard_error": result.standard_error,
            "num_examples": result.num_examples, "num_steps": args.ais_steps,
            "num_chains": args.ais_chains}


def elbos(report):
    """{label: ELBO} of the report: the model's own, or for an adversarial model the
    adversary's estimate and the bound-corrected one (`model_card.reported_kl`)."""
    if "corrected" not in report:
        return {"elbo": report["test"]["elbo"]}
    return {"adversary's elbo estimate": report["test"]["elbo"],
            "bound-corrected elbo": report["corrected"]["elbo"]}


def impossible_elbos(report):
    """The labels of the ELBOs above the AIS log p(x) by more than IMPOSSIBLE_MARGIN of its
    standard errors: no ELBO can exceed log p(x), which AIS estimates from below."""
    ais = report["ais"]
    ceiling = ais["mean"] + IMPOSSIBLE_MARGIN * ais["standard_error"]
    return [label for label, value in elbos(report).items() if value > ceiling]


def print_report(report, out):
    """A few lines: the test metrics (an adversary's named as estimates), the KL bound
    beside the model's KL, the bound-corrected ELBO, the AIS estimate and any ELBO above it."""
    data = report["data"]
    adversarial = "corrected" in report
    print(f"{report['model']} on the {data['dataset']} test split (seed {data['seed']}), "
          "nats per example:")
    for name, value in report["test"].items():
        estimate = " (the adversary's estimate)" if adversarial and name in ("kl", "elbo") else ""
        print(f"  {name:>20s}: {value:.4f}{estimate}")
    bound = report["kl_lower_bound"]
    print(f"  {'kl lower bound':>20s}: {bound['mean']:.4f} +- {bound['standard_error']:.4f} "
          f"(model's kl {bound['model_kl_mean']:.4f}; first {bound['num_examples']} images)")
    if adversarial:
        print(f"  {'bound-corrected elbo':>20s}: {report['corrected']['elbo']:.4f} (the elbo "
              "less the kl's shortfall below its adversary-free bound, as the model cards "
              "report it)")
    if "ais" in report:
        print_ais(report)
    print(f"Report written to {out}")


def print_ais(report):
    """The AIS line, then the ELBOs above it (if any) and why that cannot be."""
    ais = report["ais"]
    print(f"  {'AIS log p(x)':>20s}: {ais['mean']:.4f} +- {ais['standard_error']:.4f} "
          f"(first {ais['num_examples']} images, {ais['num_steps']} steps)")
    if report["impossible"]:
        above = ", ".join(f"the {label} ({elbos(report)[label]:.4f})"
                          for label in report["impossible"])
        print(f"  IMPOSSIBLE: {above} above the AIS log p(x). An ELBO is a lower bound on "
              "log p(x), and AIS estimates log p(x) from below, so such an ELBO overstates "
              "log p(x): the KL is underestimated"
              + (" (by the adversary)" if "corrected" in report else "")
              + ", unless AIS has not converged (rerun with 4x --ais-steps). Trust AIS.")
