"""Image panels, written at each epoch's end at step = `model.optimizer.iterations`:

    images/prior_samples    E[x | z] for a fixed grid of z ~ p(z) (the same noise
                            every epoch, so progress is visible)
    images/reconstructions  each monitoring input beside E[x | z], z ~ q(z|x)
    images/posteriors       2-d latents: `samples_per_point` draws of q(z|x) for each
                            monitoring point, coloured by label (or by point), over
                            the square [-extent, extent]^2 with the circles |z| = 1, 2
                            of the prior
    images/posteriors_pca   higher-dimensional latents: the same draws projected
                            on their first two principal components

The pictures are rendered with NumPy alone (no plotting library).
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from avb_keras import atomic, optimizers
from avb_keras.checks import positive_int
from avb_keras.callbacks.base import (SummaryCallback, monitoring_batch,
                                      unchanged_random_state)

#: Ten distinguishable colours (RGB in [0, 1]) for the groups of a scatter.
PALETTE = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
                    [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127],
                    [188, 189, 34], [23, 190, 207]], dtype="float32") / 255.0


def image_grid(images, columns, pad=1, pad_value=1.0):
    """Tiles `images` [n, h, w, c] into one [rows (h + pad) + pad, columns (w + pad) + pad, c]
    image, row by row; empty cells and the padding take `pad_value`."""
    images = np.asarray(images, dtype="float32")
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), pad_value, "float32")
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        grid[pad + r * (h + pad):(r + 1) * (h + pad), pad + k * (w + pad):(k + 1) * (w + pad)] = image
    return grid


def write_png(path, image):
    """Writes `image` [height, width, channels] with values in [0, 1] (clipped) to the
    PNG file `path`, atomically; returns the path."""
    pixels = np.rint(255.0 * np.clip(np.asarray(image, dtype="float32"), 0.0, 1.0))
    data = tf.io.encode_png(pixels.astype(np.uint8)).numpy()
    with atomic.atomic_path(path) as temporary:
        Path(temporary).write_bytes(data)
    return Path(path)


def pixel_coordinates(points, extent, size):
    """(row, column) pixel indices of 2-d points in [-extent, extent]^2 on a size x size
    canvas, y pointing up; points outside are clipped to the border."""
    points = np.clip(np.asarray(points, dtype="float64"), -extent, extent)
    scale = (size - 1) / (2.0 * extent)
    columns = np.rint((points[:, 0] + extent) * scale).astype(int)
    rows = np.rint((extent - points[:, 1]) * scale).astype(int)
    return rows, columns


def scatter_image(points, groups, extent, size=256, circles=(1.0, 2.0), dot=3):
    """A white size x size x 3 picture of `points` [n, 2], coloured by integer `groups`.

    Grey lines mark the axes z_1 = 0 and z_2 = 0 and, for each radius in
    `circles`, the circle |z| = radius; each point is a `dot` x `dot` square.
    """
    size, dot = positive_int(size, "size"), positive_int(dot, "dot")
    canvas = np.ones((size, size, 3), dtype="float32")
    centre = np.linspace(extent, -extent, size)  # y of each row; x of column j is -centre[j]
    y, x = np.meshgrid(centre, -centre, indexing="ij")
    pixel = 2.0 * extent / (size - 1)
    canvas[(np.abs(x) < pixel / 2) | (np.abs(y) < pixel / 2)] = 0.6
    radius = np.hypot(x, y)
    for r in circles:
        canvas[np.abs(radius - r) < pixel / 2] = 0.75
    rows, columns = pixel_coordinates(points, extent, size)
    colours = PALETTE[np.asarray(groups, dtype=int) % len(PALETTE)]
    half = dot // 2
    for dr in range(-half, dot - half):
        for dc in range(-half, dot - half):
            canvas[np.clip(rows + dr, 0, size - 1), np.clip(columns + dc, 0, size - 1)] = colours
    return canvas


def pca_projection(codes):
    """Codes [n, d] projected on their first two principal components, [n, 2].

        y = (z - mean(z)) V_2,   V_2 = the two leading right singular vectors.
    """
    codes = np.asarray(codes, dtype="float64")
    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projection = centred @ vt[:2].T
    if projection.shape[1] < 2:  # a 1-d latent: put it on the x axis
        projection = np.pad(projection, [(0, 0), (0, 2 - projection.shape[1])])
    return projection


class ImagePanels(SummaryCallback):
    """Prior samples, reconstructions and the posteriors over the latent plane.

    Args:
      log_dir: where the summaries go (one writer per directory).
      data: the fixed monitoring points: images, `(images, labels)`, a dict with
        "image" (and "label") or a `tf.data.Dataset` (its first batch). Labels,
        when given, colour the posterior panel.
      num_samples: prior samples in the grid (a square number looks best).
      num_reconstructions: inputs shown beside their reconstructions.
      num_points, samples_per_point: the posterior panel's points and draws each.
      extent: half-width of the 2-d latent square.
      seed: fixes the prior noise.
    """

    def __init__(self, log_dir, data, num_samples=64, num_reconstructions=16, num_points=64,
                 samples_per_point=8, extent=4.0, size=256, seed=0):
        super().__init__(log_dir)
        self.num_samples = positive_int(num_samples, "num_samples")
        self.num_reconstructions = positive_int(num_reconstructions, "num_reconstructions")
        self.samples_per_point = positive_int(samples_per_point, "samples_per_point")
        self.size = positive_int(size, "size")
        if not float(extent) > 0:
            raise ValueError(f"extent must be positive; got {extent!r}.")
        self.extent = float(extent)
        self.num_points = positive_int(num_points, "num_points")
        self.seed = int(seed)
        self.x, self.labels = monitoring_batch(data, max(self.num_reconstructions,
                                                         self.num_points))

    def set_model(self, model):
        super().set_model(model)
        self.x = np.asarray(model.images(self.x))
        # The same prior noise at every epoch.
        self.prior_z = np.random.default_rng(self.seed).standard_normal(
            (self.num_samples, model.latent_dim)).astype("float32")

    def panels(self):
        """{tag: image [height, width, channels] in [0, 1]}."""
        model = self.model
        columns = int(np.ceil(np.sqrt(self.num_samples)))
        panels = {"images/prior_samples": image_grid(model.decode(self.prior_z), columns)}
        with unchanged_random_state(model):
            x = self.x[:self.num_reconstructions]
            pairs = np.concatenate([x, np.asarray(model(x))], axis=2)
            panels["images/reconstructions"] = image_grid(
                pairs, int(np.ceil(np.sqrt(len(pairs)))), pad=2)
            points = self.x[:self.num_points]
            codes = np.asarray(model.encode(np.repeat(points, self.samples_per_point, axis=0)))
        groups = (self.labels[:len(points)] if self.labels is not None
                  else np.arange(len(points)))
        groups = np.repeat(groups, self.samples_per_point)
        if model.latent_dim == 2:
            panels["images/posteriors"] = scatter_image(codes, groups, self.extent, self.size)
        else:
            projection = pca_projection(codes)
            extent = 1.05 * max(float(np.max(np.abs(projection))), 1e-6)
            panels["images/posteriors_pca"] = scatter_image(projection, groups, extent,
                                                            self.size, circles=())
        return {tag: np.clip(image, 0.0, 1.0) for tag, image in panels.items()}

    def on_epoch_end(self, epoch, logs=None):
        with optimizers.averaged_primal(self.model):
            panels = self.panels()
        with self.writer.as_default(step=self.step):
            for tag, image in panels.items():
                tf.summary.image(tag, image[None])
        self.writer.flush()
