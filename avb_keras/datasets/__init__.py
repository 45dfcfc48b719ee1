"""Data sets for AVB experiments as ``tf.data`` pipelines of float32 images.

``load(name, split)`` returns batches shaped ``(batch, H, W, C)`` with values
in [0, 1]. Names:

* ``"four_frames"``: synthetic 2x2 one-hot images (the AVB paper's toy data).
* ``"mnist"``: full MNIST (55000/5000/10000) from a local Keras ``mnist.npz``.
* ``"mnist_small"``: stratified MNIST subset (8000/1000/1000) shipped with
  the package.
* ``"folder"``: your own PNG/JPEG images under ``path``, RGB at ``image_size``
  (see ``avb_keras.datasets.folder`` for the split and memory rules).
"""

import numbers

from avb_keras.checks import positive_int
from avb_keras.datasets import folder, four_frames, mnist
from avb_keras.datasets.pipeline import BINARIZE, make_dataset
from avb_keras.validation import validate_images

NAMES = ("four_frames", "mnist", "mnist_small", "folder")
SPLITS = ("train", "valid", "test")

__all__ = ["NAMES", "SPLITS", "BINARIZE", "data_shape", "load", "size", "validate_images"]


def _check_name(name):
    if name not in NAMES:
        raise ValueError(f"Unknown data set {name!r}; valid names: {', '.join(NAMES)}.")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def data_shape(name, image_size=None):
    """Shape ``(H, W, C)`` of one example of data set ``name``; ``image_size`` (an
    int or ``(H, W)``, default 64x64) sets it for ``"folder"`` only."""
    _check_name(name)
    if name == "folder":
        return folder.shape(image_size)
    return four_frames.SHAPE if name == "four_frames" else mnist.SHAPE


def size(name, split="train", path=None, seed=None):
    """The number of examples in split `split` of data set `name`."""
    _check_name(name)
    if name == "four_frames":
        return len(four_frames.arrays(split, None, seed)[0])
    if name == "folder":
        return len(folder.files(path, split)[0])
    return len(mnist.arrays(split, small=name == "mnist_small", path=path)[0])


def load(name, split="train", batch_size=128, binarize="dynamic", seed=None,
         with_labels=False, path=None, shuffle=None, num_examples=None, repeat=False,
         image_size=None):
    """Returns a batched, prefetched ``tf.data.Dataset`` of one data set split.

    Args:
        name: one of ``NAMES``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        batch_size: positive int; the last partial batch is kept.
        binarize: ``"dynamic"`` (fresh Bernoulli(pixel) draw on every read),
            ``"static"`` (one fixed draw) or ``None`` (grey levels). Ignored for
            ``"four_frames"``, which is binary already, and for ``"folder"``,
            whose colours are kept.
        seed: int or ``None``; makes shuffling and binarization reproducible
            (and, for ``"four_frames"``, picks the examples; ``None`` means 0
            there).
        with_labels: yield ``(images, labels)`` with int64 labels.
        path: MNIST ``.npz`` file for ``"mnist"`` (otherwise ``$AVB_KERAS_MNIST``
            or the Keras cache); the image folder for ``"folder"`` (required).
        shuffle: reshuffle every pass; defaults to ``split == "train"``.
        num_examples: for ``"four_frames"`` the number of draws (default
            8192/1024/1024); for MNIST and folders keep the first ``num_examples``
            of the split.
        repeat: repeat the data indefinitely.
        image_size: ``"folder"`` only: an int or ``(H, W)``; default 64x64.

    Returns:
        ``tf.data.Dataset`` of float32 ``(batch, H, W, C)`` tensors, or pairs
        with int64 labels (a folder's: the index of each image's subfolder).
    """
    _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits: {', '.join(SPLITS)}.")
    batch_size = positive_int(batch_size, "batch_size")
    if binarize not in BINARIZE:
        raise ValueError(f"binarize must be one of {BINARIZE}; got {binarize!r}.")
    if seed is not None and not _is_int(seed):
        raise ValueError(f"seed must be an int or None; got {seed!r}.")
    if num_examples is not None:
        num_examples = positive_int(num_examples, "num_examples")

    load_example = None
    if name == "four_frames":
        images, labels = four_frames.arrays(split, num_examples, seed)
        binarize = None
    else:
        if name == "folder":  # colour images, kept as they are
            images, labels, load_example = folder.arrays(path, split, image_size)
            binarize = None
        else:
            images, labels = mnist.arrays(split, small=name == "mnist_small", path=path)
        if num_examples is not None:
            if num_examples > len(images):
                raise ValueError(f"num_examples={num_examples} exceeds the "
                                 f"{len(images)} examples of {name}/{split}.")
            images, labels = images[:num_examples], labels[:num_examples]
    if shuffle is None:
        shuffle = split == "train"
    seed = None if seed is None else int(seed)
    return make_dataset(images, labels, batch_size=batch_size, binarize=binarize,
                        seed=seed, with_labels=with_labels, shuffle=shuffle, repeat=repeat,
                        load_example=load_example)
