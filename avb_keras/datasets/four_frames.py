"""The "four frames" toy data set of the AVB paper (Mescheder, Nowozin & Geiger, 2017).

Each example is a binary 2x2 image with exactly one pixel switched on; the four
possible images are equally likely. The data are synthetic: every split is
``num_examples`` i.i.d. uniform draws made with NumPy from ``seed``, with a
separate random stream per split, so a given ``(seed, split)`` always yields
the same examples. Labels are the flat index (0..3, row-major) of the lit pixel.
"""

import numpy as np

from avb_keras.checks import positive_int

SHAPE = (2, 2, 1)
DEFAULT_SIZES = {"train": 8192, "valid": 1024, "test": 1024}
_SPLIT_STREAM = {"train": 0, "valid": 1, "test": 2}


def arrays(split, num_examples=None, seed=None):
    """Returns ``(images, labels)`` for one split.

    ``images`` is uint8 of shape ``(n, 2, 2, 1)`` with values 0 or 255 (the same
    encoding as MNIST, so both go through one pipeline); ``labels`` is int64.
    ``seed=None`` means seed 0: the data set itself is fixed.
    """
    n = DEFAULT_SIZES[split] if num_examples is None else positive_int(num_examples,
                                                                        "num_examples")
    rng = np.random.default_rng([0 if seed is None else seed, _SPLIT_STREAM[split]])
    labels = rng.integers(0, 4, size=n, dtype=np.int64)
    images = np.zeros((n, 4), dtype=np.uint8)
    images[np.arange(n), labels] = 255
    return images.reshape((n,) + SHAPE), labels
