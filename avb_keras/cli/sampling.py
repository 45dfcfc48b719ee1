"""`avb-keras sample`: a PNG grid of a trained model's samples E[x|z], z ~ p(z)."""

import math

import numpy as np

from avb_keras import saving
from avb_keras.callbacks.images import image_grid, write_png
from avb_keras.cli.common import default_output


def sample(args):
    """Writes `model.sample(--num, seed=--seed)` as a near-square grid to --out (default:
    `default_output(MODEL_PATH, "samples.png")`); returns 0."""
    model, _ = saving.load_run(args.model_path)
    path = write_samples(model, args.out or default_output(args.model_path, "samples.png"),
                         args.num, args.seed)
    print(f"Wrote {args.num} samples of {type(model).__name__} (seed {args.seed}) to {path}")
    return 0


def write_samples(model, path, num=64, seed=0):
    """Writes `model.sample(num, seed=seed)` as one near-square PNG grid to `path`."""
    images = np.asarray(model.sample(num, seed=seed))
    return write_png(path, image_grid(images, columns=math.ceil(math.sqrt(num))))
