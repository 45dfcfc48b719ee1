"""TensorBoard's Embedding Projector: the posterior means of labelled images, with thumbnails.

For N labelled images x_1..x_N, `EmbeddingProjector` writes the means of q(z|x),

    mu_n = E_q[z | x_n] = model.moment_matched_gaussian(x_n, seed=seed).mean()

(exact for the VAE and AVB's moment encoder, from K Monte Carlo draws otherwise),
at the end of training and every `every_n_epochs` epochs, each write replacing
the last, into `log_dir`:

    latent_means-STEP.index, .data-*  a TensorFlow checkpoint of the one tensor
                                      "latent_means", [N, latent_dim] (STEP: the
                                      primal optimizer's iterations)
    checkpoint                        names the newest of them
    metadata.tsv                      the labels, one a line (one column: no header)
    sprite.png                        the images, ceil(sqrt(N)) thumbnails a row
    projector_config.pbtxt            ties the tensor to metadata.tsv and sprite.png
    events.out.tfevents.*             (empty) makes `log_dir` a run TensorBoard lists

The projector reads projector_config.pbtxt in each run's directory, so with
`log_dir` = RUN/logs/projector it shows run "projector" of

    tensorboard --logdir RUN/logs      # then the PROJECTOR tab (in the menu)

The config names no checkpoint path: the projector then takes the newest from
the `checkpoint` file, relative to the run's directory, so the run may be moved
or copied. metadata.tsv, sprite.png and the config are written atomically, and
`checkpoint` points at a new tensor only once it is complete (the old one is
deleted after); a crash leaves the previous write readable.

    projector = avb_keras.callbacks.EmbeddingProjector(
        "runs/x/logs/projector", x_test[:1000], y_test[:1000])
    model.fit(train, epochs=10, callbacks=[projector])
    # then: tensorboard --logdir runs/x/logs
"""

import math
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins import projector

from avb_keras import atomic, optimizers, validation
from avb_keras.callbacks.base import SummaryCallback
from avb_keras.callbacks.images import image_grid, write_png
from avb_keras.checks import positive_int

#: The checkpoint's tensor, as the projector lists it.
TENSOR = "latent_means"
METADATA = "metadata.tsv"
SPRITE = "sprite.png"
#: The projector draws no sprite wider or higher than this (its WebGL texture limit).
MAX_SPRITE_SIDE = 8192
#: How the messages write the images' expected form.
IMAGES_LAYOUT = "[N, height, width, channels] with 1 (grey) or 3 (RGB) channels"


def sprite_images(images):
    """`images` as a float32 [N, H, W, C] array, checked before training.

    Raises:
      TypeError: not floating point.
      ValueError: empty, not [N, H, W, 1 or 3], a sprite over the projector's
        limit, NaN or Inf, or values outside [0, 1].
    """
    images = np.asarray(images)
    if images.size == 0:
        raise ValueError(validation.empty_message(IMAGES_LAYOUT, "images", images.shape))
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(validation.shape_message(images.shape, IMAGES_LAYOUT, "images",
                                                  reader="the projector"))
    check_sprite_size(*images.shape[:3])
    # Its own trailing shape: only the dtype is checked (8-bit pixels get the hint).
    validation.check_form(images.shape, images.dtype, images.shape[1:], "unit_interval",
                          "images")
    if not np.all(np.isfinite(images)):
        raise ValueError(validation.nonfinite_message("images"))
    for bound, outside in (("below 0", images.min() < 0), ("above 1", images.max() > 1)):
        if outside:
            raise ValueError(validation.range_message(bound, "images",
                                                      reader="the projector's sprite"))
    return images.astype("float32", copy=False)


def sprite_columns(num_images):
    """Thumbnails a row: ceil(sqrt(N)), a near-square sprite."""
    return math.isqrt(num_images - 1) + 1


def check_sprite_size(num_images, height, width):
    """Raises a ValueError when the sprite of `num_images` thumbnails exceeds the limit."""
    columns = sprite_columns(num_images)
    sprite_width, sprite_height = columns * width, -(-num_images // columns) * height
    if max(sprite_width, sprite_height) > MAX_SPRITE_SIDE:
        fit = (MAX_SPRITE_SIDE // max(height, width)) ** 2
        raise ValueError(
            f"{num_images} images of {height} x {width} pixels make a sprite of "
            f"{sprite_width} x {sprite_height} pixels, over the projector's limit of "
            f"{MAX_SPRITE_SIDE} x {MAX_SPRITE_SIDE}: give fewer images (at most {fit} of this "
            "size always fit) or smaller ones.")


def metadata_lines(labels, num_images):
    """The labels as metadata.tsv's lines: one string per image, without tabs or line breaks."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(validation.shape_message(labels.shape, "[N], one label per image",
                                                  "labels", reader="the projector"))
    if len(labels) != num_images:
        raise ValueError(f"Got {len(labels)} labels for {num_images} images: expected one "
                         f"label per image, labels shaped [N].")
    lines = [label.decode("utf-8") if isinstance(label, bytes) else str(label)
             for label in labels.tolist()]
    for line in lines:
        if any(c in line for c in "\t\r\n"):
            raise ValueError(f"The label {line!r} holds a tab or a line break: metadata.tsv "
                             "holds one label a line, in one column.")
    return lines


def projector_config(height, width):
    """projector_config.pbtxt's text: the tensor, its labels and its thumbnails' size."""
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR
    embedding.metadata_path = METADATA
    embedding.sprite.image_path = SPRITE
    embedding.sprite.single_image_dim.extend([width, height])  # the projector's order
    return text_format.MessageToString(config)


def write_tensor_checkpoint(log_dir, name, values, number):
    """Writes `values` as the one tensor `name` of checkpoint NAME-NUMBER in `log_dir`,
    then points `log_dir`/checkpoint at it, then deletes the older ones.

    The SaveV2 op rather than a `tf.Variable`: a variable created under a
    distribution strategy's scope (the CLI trains in one) is mirrored, and under
    MultiWorkerMirroredStrategy its creation waits for the other workers, which
    do not run monitoring callbacks.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{name}-{number}"
    tf.raw_ops.SaveV2(prefix=str(log_dir / prefix), tensor_names=[name],
                      shape_and_slices=[""], tensors=[tf.constant(values)])
    atomic.write_text(log_dir / "checkpoint", f'model_checkpoint_path: "{prefix}"\n'
                                              f'all_model_checkpoint_paths: "{prefix}"\n')
    for old in log_dir.glob(f"{name}-*"):
        if old.name.split(".")[0] != prefix:
            old.unlink(missing_ok=True)
    return log_dir / prefix


class EmbeddingProjector(SummaryCallback):
    """The posterior means of labelled images for TensorBoard's Embedding Projector.

    Args:
      log_dir: the projector's run directory (e.g. RUN/logs/projector beside
        `keras.callbacks.TensorBoard(RUN/logs)`); see the module docstring.
      images: [N, height, width, channels] floats in [0, 1], 1 or 3 channels,
        in the model's data shape; their thumbnails make the sprite.
      labels: [N] (or [N, 1]) labels, numbers or strings, for metadata.tsv.
      every_n_epochs: write after every this many epochs (and at the end).
      seed: seeds the draws behind Monte Carlo means (the model's own random
        streams are left as they were).
      batch_size: images per `moment_matched_gaussian` call (each with `seed`),
        which encodes K copies of each.

    Raises:
      ValueError, TypeError: bad `images` or `labels`, each naming the problem
        and the expected form; at `fit`, images not in the model's data shape.
    """

    def __init__(self, log_dir, images, labels, every_n_epochs=1, seed=0, batch_size=32):
        super().__init__(log_dir)
        self.images = sprite_images(images)
        self.labels = metadata_lines(labels, len(self.images))
        self.every_n_epochs = positive_int(every_n_epochs, "every_n_epochs")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.seed = int(seed)
        self._written_step = None
        self._assets_written = False

    def set_model(self, model):
        super().set_model(model)
        self.x = model.images(self.images)  # a wrong shape fails before training

    def latent_means(self):
        """E_q[z | x_n] for the N images, [N, latent_dim] float32: the model's own means."""
        batches = range(0, len(self.x), self.batch_size)
        return np.concatenate([
            np.asarray(self.model.moment_matched_gaussian(
                self.x[i:i + self.batch_size], seed=self.seed).mean(), dtype="float32")
            for i in batches])

    def write(self):
        """The means at the current step; the labels, sprite and config on the first write."""
        step = self.step
        with optimizers.averaged_primal(self.model):
            means = self.latent_means()
        write_tensor_checkpoint(self.log_dir, TENSOR, means, step)
        if not self._assets_written:
            log_dir = Path(self.log_dir)
            atomic.write_text(log_dir / METADATA, "".join(f"{line}\n" for line in self.labels))
            write_png(log_dir / SPRITE, image_grid(self.images, sprite_columns(len(self.images)),
                                                   pad=0))
            # Last: the config makes the projector look for the files above.
            atomic.write_text(log_dir / projector.metadata.PROJECTOR_FILENAME,
                              projector_config(*self.images.shape[1:3]))
            self._assets_written = True
        self.writer.flush()  # the (empty) event file: TensorBoard lists runs that have one
        self._written_step = step

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.write()

    def on_train_end(self, logs=None):
        if self._written_step != self.step:
            self.write()
        super().on_train_end(logs)
