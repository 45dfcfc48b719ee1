"""`avb-keras evaluate`: a trained model's test metrics, KL bound and AIS log-likelihood.

The test split is the one the run was scored on: its data set, data path, image
size, batch size and seed come from RUN_DIR/metrics.json (a bare `.keras` file
needs --dataset). The model's own draws are seeded with that seed, so the same
command gives the same numbers. The report goes to RUN_DIR/evaluation.json
(beside a bare model file, MODEL.evaluation.json) or --out.
"""

import json
from pathlib import Path

from avb_keras import atomic, datasets, evaluation, saving, seeding
from avb_keras.cli.training import first_images, kl_bound_summary, load_split

#: The batch size for a bare model file (a run folder's is the run's).
DEFAULT_BATCH_SIZE = 128


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
    if args.ais:
        report["ais"] = ais_summary(model, test_data, source["seed"], args)
    out = args.out or default_out(args.model_path)
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


def default_out(model_path):
    """RUN_DIR/evaluation.json, or MODEL.evaluation.json beside a bare model file."""
    path = Path(model_path)
    return path / "evaluation.json" if path.is_dir() else path.with_suffix(".evaluation.json")


def print_report(report, out):
    """A few lines: the test metrics, the KL bound beside the model's KL, the AIS estimate."""
    data = report["data"]
    print(f"{report['model']} on the {data['dataset']} test split (seed {data['seed']}), "
          "nats per example:")
    for name, value in report["test"].items():
        print(f"  {name:>20s}: {value:.4f}")
    bound = report["kl_lower_bound"]
    print(f"  {'kl lower bound':>20s}: {bound['mean']:.4f} +- {bound['standard_error']:.4f} "
          f"(model's kl {bound['model_kl_mean']:.4f}; first {bound['num_examples']} images)")
    if "ais" in report:
        ais = report["ais"]
        print(f"  {'AIS log p(x)':>20s}: {ais['mean']:.4f} +- {ais['standard_error']:.4f} "
              f"(first {ais['num_examples']} images, {ais['num_steps']} steps)")
    print(f"Report written to {out}")
