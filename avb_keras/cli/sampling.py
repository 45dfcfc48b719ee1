"""`avb-keras sample`: a PNG grid of a trained model's samples E[x|z], z ~ p(z)."""

import math

import numpy as np

from avb_keras import saving
from avb_keras.callbacks.images import image_grid, write_png


def sample(args):
    """Writes `model.sample(--num, seed=--seed)` as a near-square grid to --out; returns 0."""
    model, _ = saving.load_run(args.model_path)
    images = np.asarray(model.sample(args.num, seed=args.seed))
    path = write_png(args.out, image_grid(images, columns=math.ceil(math.sqrt(args.num))))
    print(f"Wrote {args.num} samples of {type(model).__name__} (seed {args.seed}) to {path}")
    return 0
