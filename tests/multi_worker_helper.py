"""One worker of the two-worker test (tests/test_multi_worker.py); not a test itself.

    TF_CONFIG=... python multi_worker_helper.py RUN_DIR WEIGHTS.npz

Runs `avb-keras train --strategy multi_worker` through the command line's own
code path (`cli.run_training`), then a few steps of AdversarialVI under the same
strategy, and saves what this worker holds to WEIGHTS.npz: the trained model's
weights, its step count, and the AdversarialVI weights before and after.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from avb_keras import cli  # noqa: E402


def main(run_dir, weights_path):
    args = cli.build_parser().parse_args([
        "train", "--strategy", "multi_worker", "--dataset", "four_frames", "--epochs", "1",
        "--steps-per-epoch", "3", "--batch-size", "64", "--log-every", "2", "--seed", "5",
        "--run-dir", run_dir])
    model, summary = cli.run_training(args)

    import keras

    from avb_keras import AdversarialVI

    def log_prob(z):  # N((1, -2), I), up to a constant
        return -0.5 * keras.ops.sum(keras.ops.square(z - np.array([1.0, -2.0], "float32")), -1)

    with model.distribute_strategy.scope():
        vi = AdversarialVI.for_target(log_prob, dim=2, hidden_units=(8,), adversary_units=(8,),
                                      batch_size=16, seed=1)
        vi.compile()
        vi_before = [w.copy() for w in vi.get_weights()]
        vi.fit(steps_per_epoch=3, epochs=1, verbose=0)
    arrays = {f"model_{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"vi_before_{i}": w for i, w in enumerate(vi_before)})
    arrays.update({f"vi_after_{i}": w for i, w in enumerate(vi.get_weights())})
    arrays["iterations"] = np.asarray(int(model.optimizer.iterations.numpy()))
    arrays["replicas"] = np.asarray(summary["replicas"])
    arrays["chief"] = np.asarray(summary["chief"])
    np.savez(weights_path, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
