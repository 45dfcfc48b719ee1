"""AVB+AC with the paper's CelebA architecture (`celeba_conv`) on a folder of faces.

    python examples/celeba.py --data-path /path/to/img_align_celeba --out runs/celeba

Any folder of PNG or JPEG images works (searched recursively; see
`avb_keras.datasets.folder` for the 80/10/10 split by file name and the memory
rule). Nothing is downloaded: get CelebA's aligned crops yourself. Trains
`--epochs` passes with TensorBoard panels under OUT/logs (`tensorboard --logdir
OUT/logs`), saves OUT/model.keras, prints the test metrics, and writes
OUT/samples.png (an 8x8 grid of E[x|z], z ~ p(z)) and OUT/interpolations.png
(each row decodes z on the straight line between the codes of two test images,
which are shown at its ends).

The full preset (64x64, 42M parameters) wants a GPU; on a CPU try
`--preset folder_small --image-size 32` (the same design sized for a CPU).
"""

import argparse
import json
from pathlib import Path

import numpy as np

from avb_keras import AVB, callbacks, datasets, saving
from avb_keras.callbacks.images import image_grid, write_png


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", required=True, help="a folder of PNG/JPEG images")
    parser.add_argument("--out", type=Path, default=Path("runs/celeba"))
    parser.add_argument("--preset", default="celeba_conv",
                        choices=["celeba_conv", "folder_small"])
    parser.add_argument("--image-size", type=int, default=64,
                        help="a multiple of 16 for celeba_conv (four upsamplings), of 8 "
                             "for folder_small")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load(args, split, **kwargs):
    return datasets.load("folder", split, path=args.data_path, image_size=args.image_size,
                         batch_size=args.batch_size, seed=args.seed, **kwargs)


def train(args):
    """--preset at --image-size, fitted with TensorBoard monitoring; returns the model."""
    model = AVB.from_preset(args.preset, seed=args.seed,
                            data_shape=datasets.data_shape("folder", args.image_size))
    model.compile()
    monitor = load(args, "valid", with_labels=True, shuffle=False)
    model.fit(load(args, "train", repeat=args.steps_per_epoch is not None),
              validation_data=load(args, "valid"), epochs=args.epochs,
              steps_per_epoch=args.steps_per_epoch,
              callbacks=callbacks.monitoring_callbacks(args.out / "logs" / "avb", monitor))
    return model


def interpolations(model, x, rows=8, steps=10):
    """[rows * (steps + 2), H, W, C]: per row, x_a, decode((1 - t) z_a + t z_b) for
    `steps` values of t in [0, 1], then x_b; z = the mean of q(z|x). Fewer rows when
    `x` holds fewer than 2 * rows images (a small folder's test split)."""
    rows = min(rows, len(x) // 2)
    z = np.asarray(model.moment_matched_gaussian(x[:2 * rows]).mean())
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    line = (1 - t) * z[:rows, None] + t * z[rows:2 * rows, None]
    decoded = np.asarray(model.decode(line.reshape(rows * steps, -1)))
    decoded = decoded.reshape((rows, steps) + decoded.shape[1:])
    return np.concatenate([x[:rows, None], decoded, x[rows:2 * rows, None]], axis=1).reshape(
        (-1,) + decoded.shape[2:])


def main():
    args = parse_args()
    model = train(args)
    saving.save_model(model, args.out / "model.keras")
    test = load(args, "test", shuffle=False)
    metrics = model.evaluate(test, return_dict=True, verbose=0)
    print(json.dumps({k: float(v) for k, v in metrics.items()}, indent=2))
    write_png(args.out / "samples.png", image_grid(model.sample(64, seed=args.seed), 8))
    x = np.concatenate([batch for batch, _ in zip(test.as_numpy_iterator(), range(2))])
    write_png(args.out / "interpolations.png", image_grid(interpolations(model, x), 12))
    print(f"Wrote {args.out}/model.keras, samples.png and interpolations.png")


if __name__ == "__main__":
    main()
