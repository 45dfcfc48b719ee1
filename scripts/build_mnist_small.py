"""Builds avb_keras/datasets/mnist_small.npz, a stratified subset of MNIST.

From the full Keras-style MNIST file (x_train (60000, 28, 28) uint8, y_train,
x_test (10000, 28, 28) uint8, y_test) it draws, with a fixed seed:

* train: 800 images per class and valid: 100 per class, disjoint, from x_train;
* test: 100 per class from x_test.

Each split is stored in random order as uint8 images and uint8 labels under
x_train, y_train, x_valid, y_valid, x_test, y_test (np.savez_compressed).

    python scripts/build_mnist_small.py [--source MNIST.npz] [--out OUT.npz]
"""

import argparse
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = 20170117
PER_CLASS = {"train": 800, "valid": 100, "test": 100}


def stratified(rng, labels, counts):
    """Disjoint index sets, one per entry of ``counts``: ``counts[i]`` per class."""
    picks = [[] for _ in counts]
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) < sum(counts):
            raise SystemExit(f"class {c} has {len(idx)} examples; need {sum(counts)}")
        start = 0
        for pick, n in zip(picks, counts):
            pick.append(idx[start:start + n])
            start += n
    return [rng.permutation(np.concatenate(p)) for p in picks]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path,
                        default=REPO.parent / "shared" / "data" / "mnist.npz")
    parser.add_argument("--out", type=Path,
                        default=REPO / "avb_keras" / "datasets" / "mnist_small.npz")
    args = parser.parse_args()

    with np.load(args.source, allow_pickle=False) as f:
        x_train, y_train, x_test, y_test = (
            f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    for x in (x_train, x_test):
        if x.dtype != np.uint8 or x.shape[1:] != (28, 28):
            raise SystemExit(f"{args.source}: expected uint8 (N, 28, 28) images; "
                             f"got {x.dtype} {x.shape}")

    rng = np.random.default_rng(SEED)
    train_idx, valid_idx = stratified(rng, y_train, [PER_CLASS["train"], PER_CLASS["valid"]])
    (test_idx,) = stratified(rng, y_test, [PER_CLASS["test"]])
    splits = {"train": (x_train, y_train, train_idx), "valid": (x_train, y_train, valid_idx),
              "test": (x_test, y_test, test_idx)}
    arrays = {}
    for split, (x, y, idx) in splits.items():
        arrays[f"x_{split}"] = x[idx].astype(np.uint8)
        arrays[f"y_{split}"] = y[idx].astype(np.uint8)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 2**20:.2f} MiB, "
          f"{os.path.getsize(args.out)} bytes)")
    for split in splits:
        counts = np.bincount(arrays[f"y_{split}"], minlength=10)
        print(f"  {split:5s} {len(arrays[f'y_{split}']):5d} examples; per class {counts.tolist()}")


if __name__ == "__main__":
    main()
