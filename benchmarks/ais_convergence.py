"""AIS against its number of temperatures on one converged MNIST model (issue 12).

The converged comparison (`benchmarks/mnist_converged.py evaluate`) checks each model's
500-temperature AIS against 2000 temperatures on the first 20 test images. Where the
two disagree, this ladder shows how far the estimate still moves: the same 20 images
(the same static binarization and chain seed as that check), 8 chains, T = --steps
temperatures, from two starts:

    protocol      p0 = the moment-matched diagonal Gaussian of q, HMC in z (the
                  comparison's estimator)
    full+precond  p0 = the moment-matched full-covariance Gaussian of q, HMC in the
                  whitened coordinates u = L^-1 (z - m) of p0 (`precondition=True`)

Every row is a stochastic lower bound on the same mean log p(x); the higher, the
tighter. Prints each row and writes them, with the command, to --out (JSON).

    python benchmarks/ais_convergence.py --run /work/runs/mnist/final/avb_z32 \
        --out benchmarks/results/ais_convergence_avb_z32.json
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mnist_converged import REPO, static_images  # noqa: E402

#: The evaluate step's check: its chain seed and its 8 chains.
CHECK_SEED = [1, 0]
CHAINS = 8
#: The full-covariance p0's encoder draws (an int seed, as AIS derives for its own p0).
MOMENT_SEED = 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True,
                        help="a final run directory holding model.keras")
    parser.add_argument("--steps", default="500,2000,8000",
                        help="temperatures, comma-separated")
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--data-path", default=str(REPO.parent / "shared" / "data" / "mnist.npz"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from avb_keras import evaluation, saving
    model = saving.load_model(args.run / "model.keras")
    x = static_images("test", args.examples, args)
    starts = {"protocol": (None, False),
              "full+precond": (model.moment_matched_gaussian(
                  model.images(x), covariance="full", seed=MOMENT_SEED), True)}
    rows = []
    for start, (initial, precondition) in starts.items():
        for steps in (int(s) for s in args.steps.split(",")):
            began = time.time()
            result = evaluation.ais_log_likelihood(
                model, x, num_chains=CHAINS, num_steps=steps, seed=CHECK_SEED,
                initial=initial, precondition=precondition)
            rows.append({"start": start, "temperatures": steps,
                         "log_likelihood": float(result.log_likelihood.mean()),
                         "effective_sample_size": float(result.effective_sample_size.mean()),
                         "acceptance_rate": float(result.acceptance_rate.mean()),
                         "seconds": round(time.time() - began, 1)})
            print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]),
                                    "run": str(args.run), "examples": args.examples,
                                    "chains": CHAINS, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
